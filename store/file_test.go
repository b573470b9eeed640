package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
	"github.com/activeloopai/activeloop-credential-helper/store/storetest"
)

const testPassphrase = "correct horse battery staple"

// fileOptions selects a file store in a new directory with no key cache,
// the passphrase in the environment and no terminal to ask on.
func fileOptions(t *testing.T) store.Options {
	t.Helper()
	store.CheapFileKDF(t)
	store.NoTerminal(t)
	t.Setenv(store.EnvFilePassphrase, testPassphrase)
	return store.Options{FileDir: filepath.Join(t.TempDir(), "credentials")}
}

func openFile(t testing.TB, o store.Options) (store.Backend, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return store.Open(ctx, "file", o)
}

func mustOpenFile(t testing.TB, o store.Options) store.Backend {
	t.Helper()
	b, err := openFile(t, o)
	if err != nil {
		t.Fatalf("Open(file): %v", err)
	}
	return b
}

func bg() context.Context { return context.Background() }

func TestFileBackend(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return mustOpenFile(t, fileOptions(t)) })
}

// snapshot is every file of a directory: name, mode and content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = fi.Mode().String() + " " + fi.ModTime().String() + " " + string(data)
	}
	return m
}

func sameSnapshot(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestFileNewStoreLayout(t *testing.T) {
	o := fileOptions(t)
	b := mustOpenFile(t, o)
	servers := map[string]string{
		store.EscapeKey("https://app.activeloop.ai"): "alice-secret-token",
		store.EscapeKey("registry.example:5000"):     "bob-secret-token",
	}
	for k, v := range servers {
		if err := b.Set(bg(), k, []byte(v), "label of "+k); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(o.FileDir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}
	ents, err := os.ReadDir(o.FileDir)
	if err != nil {
		t.Fatal(err)
	}
	var entries int
	for _, e := range ents {
		name := e.Name()
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
		data, err := os.ReadFile(filepath.Join(o.FileDir, name))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range servers {
			for _, s := range []string{k, v, "activeloop", "registry", "alice", "bob", "label"} {
				if strings.Contains(strings.ToLower(name), s) || bytes.Contains(data, []byte(s)) {
					t.Errorf("file %s reveals %q", name, s)
				}
			}
		}
		switch {
		case name == "header" || name == "lock":
		case len(name) == 64 && strings.Trim(name, "0123456789abcdef") == "":
			entries++
		default:
			t.Errorf("unexpected file %s", name)
		}
	}
	if entries != len(servers) {
		t.Errorf("%d entry files, want %d", entries, len(servers))
	}
}

func TestFileDefaultKDF(t *testing.T) {
	// RFC 9106 §4, second recommended option.
	tm, mem, th := store.DefaultFileKDF()
	if tm != 3 || mem != 64<<10 || th != 4 {
		t.Errorf("default KDF t=%d m=%dKiB p=%d, want t=3 m=65536KiB p=4", tm, mem, th)
	}
	o := fileOptions(t)
	mustOpenFile(t, o)
	if tm, mem, th, err := store.FileHeaderKDF(o.FileDir); err != nil || tm != 1 || mem != 8 || th != 1 {
		t.Errorf("header KDF t=%d m=%d p=%d, %v: want what the store was made with", tm, mem, th, err)
	}
}

func TestFileWrongPassphraseWritesNothing(t *testing.T) {
	o := fileOptions(t)
	b := mustOpenFile(t, o)
	if err := b.Set(bg(), "item", []byte("value"), ""); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, o.FileDir)
	const wrong = "Tr0ub4dor&3 (not it)"
	t.Setenv(store.EnvFilePassphrase, wrong)
	_, err := openFile(t, o)
	if err == nil {
		t.Fatal("Open with a wrong passphrase succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"wrong passphrase", store.EnvFilePassphrase, o.FileDir, "nothing was read or written"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, wrong) || strings.Contains(msg, testPassphrase) {
		t.Errorf("error %q contains a passphrase", msg)
	}
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("error %v is not ErrUnavailable", err)
	}
	if after := snapshot(t, o.FileDir); !sameSnapshot(before, after) {
		t.Errorf("a wrong passphrase changed the directory:\nbefore %q\nafter  %q", before, after)
	}
	// The right one still opens it.
	t.Setenv(store.EnvFilePassphrase, testPassphrase)
	got, err := mustOpenFile(t, o).Get(bg(), "item")
	if err != nil || string(got) != "value" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestFileMissingPassphrase(t *testing.T) {
	o := fileOptions(t)
	t.Setenv(store.EnvFilePassphrase, "")
	for _, phase := range []string{"new store", "existing store"} {
		_, err := openFile(t, o)
		if err == nil {
			t.Fatalf("%s: Open without a passphrase succeeded", phase)
		}
		msg := err.Error()
		for _, want := range []string{"no passphrase", store.EnvFilePassphrase, "file_passphrase_file", "ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE_FILE", "terminal"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not say %q", phase, msg, want)
			}
		}
		if phase == "new store" {
			if _, err := os.Stat(o.FileDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed open made %s (%v)", o.FileDir, err)
			}
			t.Setenv(store.EnvFilePassphrase, testPassphrase)
			mustOpenFile(t, o)
			t.Setenv(store.EnvFilePassphrase, "")
		}
	}
}

func TestFilePassphraseFile(t *testing.T) {
	o := fileOptions(t)
	mustOpenFile(t, o) // made with the passphrase in the environment
	t.Setenv(store.EnvFilePassphrase, "")
	o.FilePassphraseFile = filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(o.FilePassphraseFile, []byte(testPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustOpenFile(t, o) // one final newline is not part of it

	if runtime.GOOS != "windows" {
		os.Chmod(o.FilePassphraseFile, 0o644)
		_, err := openFile(t, o)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+o.FilePassphraseFile) {
			t.Errorf("a world-readable passphrase file: %v, want the chmod that fixes it", err)
		}
		os.Chmod(o.FilePassphraseFile, 0o600)
	}

	os.WriteFile(o.FilePassphraseFile, []byte("wrong\n"), 0o600)
	if _, err := openFile(t, o); err == nil || !strings.Contains(err.Error(), "wrong passphrase (from passphrase file "+o.FilePassphraseFile) {
		t.Errorf("wrong passphrase in a file: %v", err)
	}
	t.Setenv(store.EnvFilePassphrase, testPassphrase)
	mustOpenFile(t, o) // the environment comes first

	t.Setenv(store.EnvFilePassphrase, "")
	os.WriteFile(o.FilePassphraseFile, []byte("\n"), 0o600)
	if _, err := openFile(t, o); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty passphrase file: %v", err)
	}
	os.Remove(o.FilePassphraseFile)
	if _, err := openFile(t, o); err == nil || !strings.Contains(err.Error(), o.FilePassphraseFile) {
		t.Errorf("missing passphrase file: %v, want its name", err)
	}
}

func TestFileRefusesWhatOthersCanReach(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows guards the directory with its ACL, not mode bits")
	}
	o := fileOptions(t)
	b := mustOpenFile(t, o)
	if err := b.Set(bg(), "item", []byte("v"), ""); err != nil {
		t.Fatal(err)
	}
	var entry string
	ents, _ := os.ReadDir(o.FileDir)
	for _, e := range ents {
		if len(e.Name()) == 64 {
			entry = filepath.Join(o.FileDir, e.Name())
		}
	}

	for _, mode := range []os.FileMode{0o750, 0o705, 0o770, 0o777} {
		os.Chmod(o.FileDir, mode)
		_, err := openFile(t, o)
		if err == nil || !strings.Contains(err.Error(), "chmod 700 "+o.FileDir) || !strings.Contains(err.Error(), fmt.Sprintf("%04o", mode)) {
			t.Errorf("directory mode %04o: %v, want a refusal with the chmod that fixes it", mode, err)
		}
	}
	os.Chmod(o.FileDir, 0o700)

	header := filepath.Join(o.FileDir, "header")
	os.Chmod(header, 0o644)
	if _, err := openFile(t, o); err == nil || !strings.Contains(err.Error(), "chmod 600 "+header) {
		t.Errorf("header mode 0644: %v", err)
	}
	os.Chmod(header, 0o600)

	b = mustOpenFile(t, o)
	os.Chmod(entry, 0o640)
	if _, err := b.Get(bg(), "item"); err == nil || !strings.Contains(err.Error(), "chmod 600 "+entry) {
		t.Errorf("entry mode 0640: %v", err)
	}
	os.Chmod(entry, 0o600)
	if _, err := b.Get(bg(), "item"); err != nil {
		t.Error(err)
	}

	// A link in place of an entry is not followed.
	other := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(other, []byte("x"), 0o600)
	os.Remove(entry)
	os.Symlink(other, entry)
	if _, err := b.Get(bg(), "item"); err == nil || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), entry) {
		t.Errorf("entry replaced by a symlink: %v", err)
	}
}

func TestFileDamagedEntry(t *testing.T) {
	o := fileOptions(t)
	b := mustOpenFile(t, o)
	s := store.New(b, 10*time.Second)
	for i, srv := range []string{"https://a.example", "https://b.example", "https://c.example"} {
		r := store.Record{ServerURL: srv, Username: "user" + strconv.Itoa(i), Secret: []byte("secret")}
		if err := s.Put(bg(), srv, r); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, o.FileDir)
	if err := b.Set(bg(), store.EscapeKey("https://b.example"), []byte("changed"), ""); err != nil {
		t.Fatal(err)
	}
	var damaged string
	for name, v := range snapshot(t, o.FileDir) {
		if len(name) == 64 && before[name] != v {
			damaged = filepath.Join(o.FileDir, name)
		}
	}
	if damaged == "" {
		t.Fatal("cannot tell which file holds b.example")
	}
	data, _ := os.ReadFile(damaged)
	data[len(data)/2] ^= 0x40
	os.WriteFile(damaged, data, 0o600)

	b = mustOpenFile(t, o) // one bad entry does not stop the store opening
	s = store.New(b, 10*time.Second)
	_, err := s.Get(bg(), "https://b.example")
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), damaged) {
		t.Errorf("Get of the damaged entry: %v, want ErrCorrupt naming %s", err, damaged)
	}
	for _, srv := range []string{"https://a.example", "https://c.example"} {
		if _, err := s.Get(bg(), srv); err != nil {
			t.Errorf("Get(%s) beside a damaged entry: %v", srv, err)
		}
	}
	recs, err := s.List(bg())
	if len(recs) != 2 || err == nil || !strings.Contains(err.Error(), damaged) {
		t.Errorf("List = %d records, %v; want the 2 others and an error naming %s", len(recs), err, damaged)
	}

	// An entry copied over another item's file does not open there.
	ents, _ := os.ReadDir(o.FileDir)
	var good []string
	for _, e := range ents {
		if n := filepath.Join(o.FileDir, e.Name()); len(e.Name()) == 64 && n != damaged {
			good = append(good, n)
		}
	}
	first, _ := os.ReadFile(good[0])
	os.WriteFile(good[1], first, 0o600)
	keys, err := b.Keys(bg())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Errorf("Keys = %q, want the good one and two marked damaged", keys)
	}
	// Damaged entries can be erased through the keys Keys gives.
	for _, k := range keys {
		if strings.HasPrefix(k, "~") {
			if err := b.Delete(bg(), k); err != nil {
				t.Errorf("Delete(%s): %v", k, err)
			}
		}
	}
	if keys, err := b.Keys(bg()); err != nil || len(keys) != 1 {
		t.Errorf("Keys after erasing the damaged entries = %q, %v", keys, err)
	}
}

func TestFileDamagedHeader(t *testing.T) {
	o := fileOptions(t)
	mustOpenFile(t, o)
	header := filepath.Join(o.FileDir, "header")
	data, _ := os.ReadFile(header)
	for _, bad := range [][]byte{data[:len(data)-1], append(slices.Clone(data), 0), []byte("junk")} {
		os.WriteFile(header, bad, 0o600)
		if _, err := openFile(t, o); err == nil || !strings.Contains(err.Error(), header) {
			t.Errorf("damaged header: %v, want an error naming %s", err, header)
		}
	}
	// Without a header, the entries are not orphaned by a new one.
	os.WriteFile(header, data, 0o600)
	b := mustOpenFile(t, o)
	if err := b.Set(bg(), "item", []byte("v"), ""); err != nil {
		t.Fatal(err)
	}
	os.Remove(header)
	if _, err := openFile(t, o); err == nil || !strings.Contains(err.Error(), "has lost its header") {
		t.Errorf("entries without a header: %v", err)
	}
	if _, err := os.Stat(header); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new header was written over orphaned entries")
	}
	os.WriteFile(header, data, 0o600)

	// A flipped bit in the parameters or salt: the verifier fails.
	bad := slices.Clone(data)
	bad[20] ^= 1
	os.WriteFile(header, bad, 0o600)
	if _, err := openFile(t, o); err == nil {
		t.Error("a header with a flipped salt bit opened")
	}
}

func TestFileConcurrentCreate(t *testing.T) {
	o := fileOptions(t)
	const n = 16
	backends := make([]store.Backend, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b, err := openFile(t, o)
			if err != nil {
				t.Error(err)
				return
			}
			backends[i] = b
			if err := b.Set(bg(), "k"+strconv.Itoa(i), []byte{byte(i)}, ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Everyone made the same store: what each wrote, all can read.
	for _, b := range backends {
		for i := range n {
			got, err := b.Get(bg(), "k"+strconv.Itoa(i))
			if err != nil || !bytes.Equal(got, []byte{byte(i)}) {
				t.Fatalf("Get(k%d) = %v, %v", i, got, err)
			}
		}
	}
}

func TestFileConcurrentWritersAndReaders(t *testing.T) {
	o := fileOptions(t)
	mustOpenFile(t, o)
	var written sync.Map
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for w := range 8 {
		b := mustOpenFile(t, o)
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				v := fmt.Sprintf("w%d-%d-%s", w, i, strings.Repeat("x", rand.IntN(4096)))
				written.Store(v, true)
				if err := b.Set(bg(), "shared", []byte(v), ""); err != nil {
					t.Error(err)
					return
				}
				if err := b.Set(bg(), fmt.Sprintf("own-%d", w), []byte(v), ""); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 8 {
		b := mustOpenFile(t, o)
		wg.Go(func() {
			for time.Now().Before(stop) {
				got, err := b.Get(bg(), "shared")
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Errorf("reader: %v", err)
					return
				}
				if _, ok := written.Load(string(got)); !ok {
					t.Errorf("reader saw %.40q, which no writer wrote", got)
					return
				}
			}
		})
	}
	wg.Wait()
	b := mustOpenFile(t, o)
	keys, err := b.Keys(bg())
	if err != nil || len(keys) != 9 {
		t.Errorf("Keys = %q, %v; want shared and 8 own", keys, err)
	}
	got, err := b.Get(bg(), "shared")
	if _, ok := written.Load(string(got)); err != nil || !ok {
		t.Errorf("final value %.40q, %v: not one that was written", got, err)
	}
	assertNoTemps(t, o.FileDir)
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	if n := countTemps(dir); n > 0 {
		t.Errorf("%d temporary files left behind", n)
	}
}

func countTemps(dir string) int {
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp") {
			n++
		}
	}
	return n
}

// writerLoopEnv makes TestFileWriterLoopProcess a writer that never stops:
// the crash test starts it in a process of its own and kills it.
const writerLoopEnv = "FILE_BACKEND_TEST_WRITER_LOOP_DIR"

func TestFileWriterLoopProcess(t *testing.T) {
	dir := os.Getenv(writerLoopEnv)
	if dir == "" {
		return // run only as the crash test's child
	}
	b, err := openFile(t, store.Options{FileDir: dir})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	fmt.Println("ready")
	for i := 0; ; i++ {
		if err := b.Set(bg(), "victim", victimValue(i), ""); err != nil {
			fmt.Println("set:", err)
			os.Exit(3)
		}
	}
}

// victimValue is the i-th value the writer loop writes: its length varies so
// that a torn write would show.
func victimValue(i int) []byte {
	return fmt.Appendf(nil, "victim %d %s end", i, strings.Repeat("0123456789", i%300))
}

func isVictimValue(b []byte) bool {
	var i int
	if _, err := fmt.Sscanf(string(b), "victim %d", &i); err != nil {
		return false
	}
	return bytes.Equal(b, victimValue(i))
}

func TestFileSurvivesKilledWriters(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL on Windows")
	}
	o := fileOptions(t)
	b := mustOpenFile(t, o)
	others := map[string][]byte{}
	for i := range 20 {
		k := "other-" + strconv.Itoa(i)
		others[k] = fmt.Appendf(nil, "value of %s", k)
		if err := b.Set(bg(), k, others[k], ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Set(bg(), "victim", victimValue(0), ""); err != nil {
		t.Fatal(err)
	}
	// The child opens the store in its header's parameters, which the
	// cheap test KDF made.
	midWrite := 0
	for round := range 50 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileWriterLoopProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerLoopEnv+"="+o.FileDir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		temps := countTemps(o.FileDir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make([]byte, 6)
		if _, err := io.ReadFull(out, ready); err != nil || string(ready) != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: writer did not start: %q %v", round, ready, err)
		}
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if countTemps(o.FileDir) > temps {
			midWrite++ // killed between making its temporary file and renaming it
		}

		b, err := openFile(t, o)
		if err != nil {
			t.Fatalf("round %d: after a killed writer the store does not open: %v", round, err)
		}
		for k, want := range others {
			got, err := b.Get(bg(), k)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("round %d: %s = %q, %v; want %q", round, k, got, err, want)
			}
		}
		got, err := b.Get(bg(), "victim")
		if err != nil || !isVictimValue(got) {
			t.Fatalf("round %d: victim = %.60q, %v; want a whole value", round, got, err)
		}
		keys, err := b.Keys(bg())
		if err != nil || len(keys) != 21 {
			t.Fatalf("round %d: Keys = %d keys, %v; want 21", round, len(keys), err)
		}
	}
	t.Logf("%d of 50 kills caught the writer between its temporary file and the rename", midWrite)
	// A write clears what killed writers left, once it is old enough that
	// no live writer can own it.
	ents, _ := os.ReadDir(o.FileDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp") {
			old := time.Now().Add(-2 * time.Minute)
			os.Chtimes(filepath.Join(o.FileDir, e.Name()), old, old)
		}
	}
	if err := b.Set(bg(), "victim", victimValue(1), ""); err != nil {
		t.Fatal(err)
	}
	assertNoTemps(t, o.FileDir)
}

func TestFileKeyCache(t *testing.T) {
	o := fileOptions(t)
	o.FileKeyCacheTTL = time.Minute
	t.Cleanup(func() {
		if _, _, err := store.ForgetFileKey(o); err != nil {
			t.Error(err)
		}
	})
	b := mustOpenFile(t, o)
	if err := b.Set(bg(), "item", []byte("v"), ""); err != nil {
		t.Fatal(err)
	}
	_, cached := store.FileCacheGet(o.FileDir)
	if !store.FileKeyCache() {
		if cached {
			t.Fatal("a build without a key cache cached a key")
		}
		return
	}
	if !cached {
		t.Fatal("no key cached after the first open")
	}

	// Warm: no passphrase needed.
	t.Setenv(store.EnvFilePassphrase, "")
	if got, err := mustOpenFile(t, o).Get(bg(), "item"); err != nil || string(got) != "v" {
		t.Fatalf("warm Get = %q, %v", got, err)
	}
	// A wrong passphrase given is still wrong, cache or not.
	t.Setenv(store.EnvFilePassphrase, "wrong")
	if _, err := openFile(t, o); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("wrong passphrase with a warm cache: %v", err)
	}
	// No cache: no passphrase, no store.
	t.Setenv(store.EnvFilePassphrase, "")
	off := o
	off.FileKeyCacheTTL = 0
	if _, err := openFile(t, off); err == nil {
		t.Error("with the cache disabled, Open succeeded without a passphrase")
	}
	// Forgetting the key locks the store.
	dir, forgot, err := store.ForgetFileKey(o)
	if err != nil || !forgot || dir != o.FileDir {
		t.Fatalf("ForgetFileKey = %s, %v, %v", dir, forgot, err)
	}
	if _, err := openFile(t, o); err == nil || !strings.Contains(err.Error(), "no passphrase") {
		t.Errorf("after ForgetFileKey: %v, want a request for the passphrase", err)
	}
	if _, forgot, _ := store.ForgetFileKey(o); forgot {
		t.Error("ForgetFileKey forgot a key twice")
	}

	// A cached key that does not open the header is dropped, not used.
	if err := store.FileCachePut(o.FileDir, make([]byte, 64), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := openFile(t, o); err == nil {
		t.Error("a wrong cached key opened the store")
	}
	if _, ok := store.FileCacheGet(o.FileDir); ok {
		t.Error("a wrong cached key was kept")
	}

	// The cache expires.
}

func TestFileAutoFallsBack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("auto falls back to file on Linux only")
	}
	o := fileOptions(t)
	o.SessionBus = "disabled:"
	o.PassDir = filepath.Join(t.TempDir(), "no-password-store")
	b, reason, err := store.Auto(bg(), o)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "file" || !strings.Contains(reason, "fell back to file") {
		t.Errorf("auto chose %s: %s", b.Name(), reason)
	}
}

func TestFileProbeChangesNothing(t *testing.T) {
	o := fileOptions(t)
	o.FileKeyCacheTTL = time.Minute
	o.Probe = true
	t.Cleanup(func() { store.ForgetFileKey(o) })

	// No store yet: usable with a passphrase, and still no store after.
	if err := store.Probe(bg(), "file", o); err != nil {
		t.Errorf("Probe of a store to be made, with a passphrase: %v", err)
	}
	if _, err := os.Stat(o.FileDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Probe made %s (%v)", o.FileDir, err)
	}
	t.Setenv(store.EnvFilePassphrase, "")
	if err := store.Probe(bg(), "file", o); err == nil || !strings.Contains(err.Error(), "no passphrase") {
		t.Errorf("Probe without a passphrase or a terminal: %v", err)
	}

	// A store: the passphrase is checked, and nothing written or cached.
	t.Setenv(store.EnvFilePassphrase, testPassphrase)
	made := o
	made.Probe, made.FileKeyCacheTTL = false, 0
	mustOpenFile(t, made)
	before := snapshot(t, o.FileDir)
	if err := store.Probe(bg(), "file", o); err != nil {
		t.Errorf("Probe of a store with its passphrase: %v", err)
	}
	if _, cached := store.FileCacheGet(o.FileDir); cached {
		t.Error("Probe cached the key")
	}
	t.Setenv(store.EnvFilePassphrase, "wrong")
	if err := store.Probe(bg(), "file", o); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("Probe with a wrong passphrase: %v", err)
	}
	if !sameSnapshot(before, snapshot(t, o.FileDir)) {
		t.Error("Probe changed the store's files")
	}
}
