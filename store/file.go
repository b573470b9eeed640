package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The file backend (SPEC §9) keeps items encrypted in one directory, for
// machines with no other secure store: headless servers, containers, CI.
//
// The directory is file_dir, by default <user config dir>/activeloop/credentials
// (~/.config/activeloop/credentials on Linux, ~/Library/Application
// Support/activeloop/credentials on macOS, %AppData%\activeloop\credentials
// on Windows), made on first use. Its layout (mode 0700, every file 0600,
// all the user's own; anything else is refused with the chmod that fixes
// it):
//
//	header      KDF parameters, salt and a verifier (file_format.go)
//	lock        empty; writers hold an advisory lock on it
//	<64 hex>    one entry per item, named by an HMAC of the item's key under
//	            a key derived from the passphrase: names reveal nothing about
//	            servers or usernames, only how many items there are
//
// Keys: Argon2id turns the passphrase into the master key (parameters and
// why in file_format.go). The header's verifier proves a key before anything
// is read or written, so a wrong passphrase is an error and writes nothing.
//
// Writes: a temporary file in the directory, written and fsynced, renamed
// over the entry, and the directory fsynced — a reader sees the old entry or
// the new one, and a crash at any point leaves one of them. Writers take the
// lock for the rename, so that creating the store happens once and no entry
// is written under the keys of a store that was replaced meanwhile. Readers
// take no lock.
//
// Passphrase: $ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE, else the file named by
// file_passphrase_file, else a prompt on the terminal (/dev/tty; prompt on
// stderr), twice for a new store. With none, an error says so. A probe
// (Options.Probe) checks the same without asking, creating or caching.
//
// Key cache: the KDF is slow on purpose, and a host tool execs the helper on
// every request. On Linux the master key is cached in the kernel's user
// keyring for Options.FileKeyCacheTTL (file_keycache_linux.go); elsewhere
// every call pays the KDF (file_keycache_other.go).

func init() { backends["file"] = openFile }

const (
	fileHeaderName = "header"
	fileLockName   = "lock"
	fileTempPrefix = ".tmp-"

	// fileDamagedPrefix marks, in Keys, an entry file that does not open:
	// Get of "~<file name>" returns that file's error, and Delete removes
	// it. EscapeKey never makes a name starting with '~'.
	fileDamagedPrefix = "~"

	// fileCachePrefix starts the description of every cached key.
	fileCachePrefix = Namespace + ":file-key:"

	// maxEntryFile caps what is read of an entry file.
	maxEntryFile = 1 << 20
)

// fileKDF are the KDF parameters of new stores; tests lower them.
var fileKDF = defaultKDFParams

// fileBackend is one unlocked store.
type fileBackend struct {
	dir    string
	header []byte // the header file as verified at open
	keys   *fileKeys
	how    string // how the keys were had, for --debug
}

// HowOpened says how the store's key was had: from the cache or derived,
// and how long that took. It holds no secret.
func (b *fileBackend) HowOpened() string { return b.how }

func (*fileBackend) Name() string { return "file" }

// FileDir returns the directory of the file backend that o selects: FileDir,
// with a leading ~ expanded, or <user config dir>/activeloop/credentials.
func FileDir(o Options) (string, error) {
	dir := o.FileDir
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("%w: no directory for the credential files (%w): choose one with the file_dir setting", ErrUnavailable, err)
		}
		dir = filepath.Join(base, "activeloop", "credentials")
	}
	dir, err := expandHome(dir)
	if err != nil {
		return "", fmt.Errorf("%w: file_dir %s: %w", ErrUnavailable, o.FileDir, err)
	}
	return filepath.Abs(dir)
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, `~\`) {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, p[1:]), nil
}

// openFile unlocks the store in o's directory, creating it on first use.
func openFile(ctx context.Context, o Options) (Backend, error) {
	dir, err := FileDir(o)
	if err != nil {
		return nil, err
	}
	for {
		if err := checkDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		raw, h, err := readHeader(dir)
		if errors.Is(err, fs.ErrNotExist) && o.Probe {
			return probeNewStore(dir, o)
		}
		if errors.Is(err, fs.ErrNotExist) {
			b, err := createStore(ctx, dir, o)
			if errors.Is(err, errStoreExists) {
				continue // another process made it first: open that one
			}
			return b, err
		}
		if err != nil {
			return nil, err
		}
		keys, how, err := unlock(ctx, dir, h, o)
		if errors.Is(err, errProbeUsable) {
			return probedFile{}, nil
		}
		if err != nil {
			return nil, err
		}
		return &fileBackend{dir: dir, header: raw, keys: keys, how: how}, nil
	}
}

// probeNewStore checks, changing nothing, that a store could be made in dir:
// a passphrase is given, or there is a terminal to ask it on. A probe never
// asks.
func probeNewStore(dir string, o Options) (Backend, error) {
	p, err := givenPassphrase(o)
	if err != nil {
		return nil, err
	}
	if p == nil && !haveTerminal() {
		return nil, errNoPassphrase(dir)
	}
	return probedFile{}, nil
}

// probedFile is what a probe of a store not made yet returns: it has no keys.
type probedFile struct{}

var (
	errProbed      = errors.New("the file store was only probed, not opened")
	errProbeUsable = errors.New("the file store would ask for its passphrase")
)

func (probedFile) Name() string                                      { return "file" }
func (probedFile) Get(context.Context, string) ([]byte, error)       { return nil, errProbed }
func (probedFile) Set(context.Context, string, []byte, string) error { return errProbed }
func (probedFile) Delete(context.Context, string) error              { return errProbed }
func (probedFile) Keys(context.Context) ([]string, error)            { return nil, errProbed }

func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("%w: credential directory: %w", ErrUnavailable, err)
	}
	if err := checkPrivate("credential directory", dir, fi, true); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// readHeader reads and parses the store's header; fs.ErrNotExist means there
// is no store yet.
func readHeader(dir string) ([]byte, *fileHeader, error) {
	name := filepath.Join(dir, fileHeaderName)
	raw, err := readPrivate(name, fileHeaderSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	h, err := parseFileHeader(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: credential store header %s: %w: without it no entry of %s can be read; restore it from a backup, or move the directory away and store the credentials again", ErrUnavailable, name, err, dir)
	}
	return raw, h, nil
}

// readPrivate reads a file of the store that must be private, of at most
// max bytes.
func readPrivate(name string, max int) ([]byte, error) {
	f, err := openNoFollow(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("credential file %s: %w", name, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("credential file %s: %w", name, unwrapPath(err))
	}
	if err := checkPrivate("credential file", name, fi, false); err != nil {
		return nil, err
	}
	if fi.Size() > int64(max) {
		return nil, fmt.Errorf("credential file %s is %d bytes, more than any this store writes: it is damaged or was not written by this store", name, fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("credential file %s: %w", name, unwrapPath(err))
	}
	return b, nil
}

// unwrapPath drops a PathError's path and operation when the message names
// the file already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// unlock returns the keys of the store whose header is h: from the key
// cache when it holds them, else from the passphrase, checked against the
// header's verifier. A probe asks nobody and leaves the cache as it is.
func unlock(ctx context.Context, dir string, h *fileHeader, o Options) (k *fileKeys, how string, err error) {
	given, err := givenPassphrase(o)
	if err != nil {
		return nil, "", err
	}
	desc := fileCacheDesc(dir, h.Salt)
	ttl := o.FileKeyCacheTTL
	if ttl > 0 {
		if k := keysFromCache(desc, h, given, o.Probe); k != nil {
			return k, "key from the kernel keyring's cache", nil
		}
	}
	if ttl <= 0 || o.Probe || !fileCacheUsable() {
		k, _, how, err := deriveKeys(ctx, dir, h, o, given)
		return k, how, err
	}
	// Processes that miss the cache at once (many pulls started together
	// after the key expired) derive it in turn under the store's lock, and
	// all but the first find it cached: one KDF, its memory and its time,
	// instead of one each, and one passphrase prompt.
	start := time.Now()
	err = withLock(dir, func() error {
		if k = keysFromCache(desc, h, given, false); k != nil {
			how = fmt.Sprintf("key from the kernel keyring's cache, put there by another process while this one waited %s", time.Since(start).Round(time.Millisecond))
			return nil
		}
		var (
			p   *passphrase
			err error
		)
		if k, p, how, err = deriveKeys(ctx, dir, h, o, given); err != nil {
			return err
		}
		if err := fileCachePut(desc, cachePayload(k, p), ttl); err != nil {
			how += "; not cached: " + err.Error() // the next call derives it again
		}
		return nil
	})
	return k, how, err
}

// keysFromCache returns the keys cached under desc if they open h and agree
// with the passphrase given, if any; else nil. A cached key of another
// header is dropped, unless probing.
func keysFromCache(desc string, h *fileHeader, given *passphrase, probe bool) *fileKeys {
	payload, ok := fileCacheGet(desc)
	if !ok {
		return nil
	}
	k, ok := cachedKeys(h, payload, given)
	if k == nil && !ok && !probe {
		fileCacheDrop(desc) // a key of another header: useless
	}
	// Else a passphrase was given that is not the cached one's: the caller
	// checks it the slow way, which fails if it is wrong.
	return k
}

// deriveKeys derives the keys from the passphrase given, or asked on the
// terminal (returned too), and checks them against the header's verifier.
func deriveKeys(ctx context.Context, dir string, h *fileHeader, o Options, p *passphrase) (*fileKeys, *passphrase, string, error) {
	if p == nil && o.Probe {
		if haveTerminal() {
			return nil, nil, "", errProbeUsable // the command would ask, and could be answered
		}
		return nil, nil, "", errNoPassphrase(dir)
	}
	if p == nil {
		var err error
		if p, err = promptPassphrase(ctx, dir, false); err != nil {
			return nil, nil, "", err
		}
	}
	start := time.Now()
	k, err := splitKeys(deriveMaster(p.secret, h))
	if err != nil {
		return nil, nil, "", err
	}
	if !h.verify(k) {
		return nil, nil, "", fmt.Errorf("%w: wrong passphrase (from %s) for the credential store in %s: it does not open %s; nothing was read or written",
			ErrUnavailable, p.from, dir, filepath.Join(dir, fileHeaderName))
	}
	return k, p, fmt.Sprintf("key derived from %s with %s in %s", p.from, h.KDF, time.Since(start).Round(time.Millisecond)), nil
}

// cachePayload is what the key cache holds: the master key, and a tag that
// lets a passphrase given later be checked without the KDF.
func cachePayload(k *fileKeys, p *passphrase) []byte {
	return append(clone(k.master), k.passphraseTag(p.secret)...)
}

// cachedKeys returns the keys in a cache payload if they open h and, when a
// passphrase is given, were derived from it. valid reports whether the
// payload holds h's key at all.
func cachedKeys(h *fileHeader, payload []byte, given *passphrase) (k *fileKeys, valid bool) {
	if len(payload) != 2*fileKeySize {
		return nil, false
	}
	k, err := splitKeys(payload[:fileKeySize])
	if err != nil || !h.verify(k) {
		return nil, false
	}
	if given != nil && !hmac.Equal(k.passphraseTag(given.secret), payload[fileKeySize:]) {
		return nil, true
	}
	return k, true
}

// fileCacheDesc names the cached key of the store in dir whose header has
// salt: a store moved or made again does not find another's key.
func fileCacheDesc(dir string, salt []byte) string {
	s := sha256.New()
	s.Write([]byte(dir))
	s.Write([]byte{0})
	s.Write(salt)
	return fileCachePrefix + hex.EncodeToString(s.Sum(nil)[:16])
}

var errStoreExists = errors.New("store exists")

// createStore makes a new store in dir: the directory and its header, under
// the lock so that of two processes starting at once only one makes it.
func createStore(ctx context.Context, dir string, o Options) (Backend, error) {
	// Find a passphrase before anything is made: without one, no store.
	p, err := givenPassphrase(o)
	if err != nil {
		return nil, err
	}
	if p == nil {
		if p, err = promptPassphrase(ctx, dir, true); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: creating the credential directory: %w", ErrUnavailable, err)
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	var b *fileBackend
	err = withLock(dir, func() error {
		if _, _, err := readHeader(dir); !errors.Is(err, fs.ErrNotExist) {
			return errStoreExists
		}
		if n := countEntries(dir); n > 0 {
			// A new header would leave them unreadable for good.
			return fmt.Errorf("%w: credential directory %s has lost its header (%s) and, without it, the %d credential files it holds cannot be read: restore the header from a backup, or move the directory away to start a new store",
				ErrUnavailable, dir, filepath.Join(dir, fileHeaderName), n)
		}
		h, k, err := newFileHeader(p.secret, fileKDF)
		if err != nil {
			return err
		}
		raw := h.marshal()
		if err := writeAtomic(dir, fileHeaderName, raw, nil); err != nil {
			return err
		}
		if o.FileKeyCacheTTL > 0 {
			fileCachePut(fileCacheDesc(dir, h.Salt), cachePayload(k, p), o.FileKeyCacheTTL)
		}
		b = &fileBackend{dir: dir, header: raw, keys: k}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// countEntries counts the entry files in dir.
func countEntries(dir string) int {
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if isEntryName(e.Name()) {
			n++
		}
	}
	return n
}

// withLock runs fn holding the store's lock.
func withLock(dir string, fn func() error) error {
	name := filepath.Join(dir, fileLockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("%w: opening the lock file: %w", ErrUnavailable, err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("%w: locking %s: %w", ErrUnavailable, name, err)
	}
	defer unlockFile(f)
	return fn()
}

// staleTempAge is the age past which a temporary file is taken to be left by
// a writer that died before its rename. A live writer renames its file
// within milliseconds; one that stalls longer than this loses its write (the
// rename fails), never an entry.
const staleTempAge = time.Minute

// removeStaleTemps removes the temporary files of writers that died.
func removeStaleTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), fileTempPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTempAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// writeTemp writes data to a new temporary file in dir and flushes it to
// disk, so that once renamed it is whole whatever happens next.
func writeTemp(dir, dst string, data []byte) (tmp string, err error) {
	f, err := os.CreateTemp(dir, fileTempPrefix+"*")
	if err != nil {
		return "", writeError(dst, err)
	}
	name := f.Name()
	defer func() {
		if err != nil {
			os.Remove(name) // not tmp: the return has cleared it
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", writeError(dst, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", writeError(dst, err)
	}
	if err := f.Close(); err != nil {
		return "", writeError(dst, err)
	}
	return name, nil
}

// writeAtomic replaces dir/name with data: a temporary file, fsynced, renamed
// over it, the directory fsynced. A reader sees the old file or the new one;
// a crash leaves one of them, and at worst a stale temporary file. lock, if
// not nil, runs the rename: Set runs it under the store's lock.
func writeAtomic(dir, name string, data []byte, lock func(func() error) error) error {
	dst := filepath.Join(dir, name)
	tmp, err := writeTemp(dir, dst, data)
	if err != nil {
		return err
	}
	rename := func() error { return replaceFile(tmp, dst) }
	if lock != nil {
		err = lock(rename)
	} else {
		err = rename()
	}
	if err != nil {
		os.Remove(tmp)
		return writeError(dst, err)
	}
	if err := syncDir(dir); err != nil {
		return writeError(dst, err)
	}
	return nil
}

func writeError(name string, err error) error {
	err = unwrapPath(err)
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("writing credential file %s: %w: free some space and try again; the stored credentials are unchanged", name, err)
	}
	return fmt.Errorf("writing credential file %s: %w", name, err)
}

// locked runs fn holding the store's lock, once it has checked that the
// store is still the one unlocked at open: keys of a replaced header would
// write entries nobody could read. Writers hold the lock for a rename or a
// removal only, and clear what killed writers left.
func (b *fileBackend) locked(fn func() error) error {
	return withLock(b.dir, func() error {
		removeStaleTemps(b.dir)
		name := filepath.Join(b.dir, fileHeaderName)
		raw, err := readPrivate(name, fileHeaderSize)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if !hmac.Equal(raw, b.header) {
			return fmt.Errorf("%w: the credential store in %s was replaced while this command ran (%s changed); run it again", ErrUnavailable, b.dir, name)
		}
		return fn()
	})
}

// entryFile returns the file name of key: its HMAC, or the file a damaged
// entry's key from Keys names.
func (b *fileBackend) entryFile(key string) string {
	if n, ok := strings.CutPrefix(key, fileDamagedPrefix); ok && isEntryName(n) {
		return n
	}
	return b.keys.entryName(key)
}

// readEntry reads and decrypts the entry file name.
func (b *fileBackend) readEntry(name string) (key string, data []byte, err error) {
	path := filepath.Join(b.dir, name)
	raw, err := readPrivate(path, maxEntryFile)
	if err != nil {
		return "", nil, err
	}
	key, data, err = b.keys.openEntry(name, raw)
	switch {
	case err == nil:
		return key, data, nil
	case errors.Is(err, errEntryVersion):
		return "", nil, fmt.Errorf("credential file %s %w", path, err)
	case errors.Is(err, errEntryKey):
		return "", nil, fmt.Errorf("%w: credential file %s %w; erase it (logout) or remove the file, and store those credentials again", ErrCorrupt, path, err)
	}
	return "", nil, fmt.Errorf("%w: credential file %s is unreadable (%w); erase it (logout) or remove the file, and store those credentials again", ErrCorrupt, path, err)
}

func (b *fileBackend) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkCall(ctx, key); err != nil {
		return nil, err
	}
	name := b.entryFile(key)
	got, data, err := b.readEntry(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if got != key && name == b.keys.entryName(key) {
		// Sealed under this store's key and this file name: only a
		// store with a colliding HMAC could write it.
		return nil, fmt.Errorf("credential file %s holds another item", filepath.Join(b.dir, name))
	}
	return data, nil
}

func (b *fileBackend) Set(ctx context.Context, key string, data []byte, _ string) error {
	if err := checkCall(ctx, key); err != nil {
		return err
	}
	if strings.HasPrefix(key, fileDamagedPrefix) {
		return fmt.Errorf("invalid item name %q", key)
	}
	name := b.keys.entryName(key)
	sealed, err := b.keys.sealEntry(name, key, data)
	if err != nil {
		return err
	}
	return writeAtomic(b.dir, name, sealed, b.locked)
}

func (b *fileBackend) Delete(ctx context.Context, key string) error {
	if err := checkCall(ctx, key); err != nil {
		return err
	}
	path := filepath.Join(b.dir, b.entryFile(key))
	err := b.locked(func() error { return os.Remove(path) })
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = syncDir(b.dir)
	}
	if err != nil {
		return fmt.Errorf("removing credential file %s: %w", path, unwrapPath(err))
	}
	return nil
}

// Keys decrypts every entry for its key. An entry that does not open is
// listed as "~<file name>", so that Store.List reports it, by its file,
// beside the others instead of failing as a whole.
func (b *fileBackend) Keys(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: listing the credential directory: %w", ErrUnavailable, err)
	}
	var keys []string
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !isEntryName(e.Name()) {
			continue
		}
		key, _, err := b.readEntry(e.Name())
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Deleted since ReadDir.
		case err != nil:
			keys = append(keys, fileDamagedPrefix+e.Name())
		default:
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// ForgetFileKey drops the cached key of the file store that o selects, and
// returns the store's directory and whether a key was cached. It needs no
// passphrase.
func ForgetFileKey(o Options) (dir string, forgot bool, err error) {
	if dir, err = FileDir(o); err != nil {
		return "", false, err
	}
	_, h, err := readHeader(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return dir, false, nil // no store, so no key
	}
	if err != nil {
		return dir, false, err
	}
	forgot, err = fileCacheDrop(fileCacheDesc(dir, h.Salt))
	if err != nil {
		return dir, false, fmt.Errorf("dropping the cached key of the credential store in %s: %w", dir, err)
	}
	return dir, forgot, nil
}

// ForgetFileKeys drops the cached keys of every file store of this user and
// returns how many there were.
func ForgetFileKeys() (int, error) {
	n, err := fileCacheDropAll()
	if err != nil {
		return n, fmt.Errorf("dropping cached keys of credential stores: %w", err)
	}
	return n, nil
}

// FileKeyCache reports whether this build caches the file backend's key.
func FileKeyCache() bool { return fileCacheAvailable }
