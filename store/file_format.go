package store

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// The file backend's formats. Every cryptographic primitive comes from the
// Go standard library or golang.org/x/crypto: Argon2id (RFC 9106) turns the
// passphrase into a master key, HKDF-SHA256 (RFC 5869) splits it into one key
// per use, XChaCha20-Poly1305 seals the entries and the verifier, and
// HMAC-SHA256 names the entry files.
//
// header (fileHeaderSize bytes):
//
//	"ALCH" 0x01             magic and format version
//	0x01                    KDF: Argon2id
//	uint32 time             Argon2id passes        (big-endian)
//	uint32 memory           Argon2id memory in KiB (big-endian)
//	uint8  threads          Argon2id lanes
//	[32]   salt             random, made with the store
//	[24]   nonce            random
//	[..]   verifier         XChaCha20-Poly1305 seal of fileVerifierText under
//	                        the verifier key, with everything before the nonce
//	                        as additional data
//
// entry file, named by hex(HMAC-SHA256(names key, item key)):
//
//	"ALCE" 0x01             magic and format version
//	[24]   nonce            random, new on every write
//	[..]   sealed record    XChaCha20-Poly1305 under the entries key, with the
//	                        magic and the file's name as additional data
//
// The sealed record is uint16 length of the item key (big-endian), the item
// key, then the item's data. Binding the file name into the seal means an
// entry copied or renamed onto another item's file does not open.

// Default Argon2id parameters of new stores: RFC 9106's second recommended
// option (§4: t=3, m=64 MiB, p=4), for machines where the first option's
// 2 GiB is out of reach — which includes CI runners and small containers.
// Measured on a 2-core machine, one derivation takes 0.15–0.3 s: each guess
// costs an attacker as much, while a person pays it once per key cache
// lifetime. The parameters are stored in each header, so stronger ones can be
// chosen for new stores later without breaking old ones.
const (
	fileKDFTime    = 3
	fileKDFMemory  = 64 << 10 // KiB
	fileKDFThreads = 4
)

// Bounds on the parameters a header may ask for: enough to reject a damaged
// header before it makes the KDF allocate more memory than a machine has.
const (
	fileKDFMaxTime   = 64
	fileKDFMaxMemory = 4 << 20 // KiB: 4 GiB
)

var (
	fileHeaderMagic = []byte("ALCH\x01")
	fileEntryMagic  = []byte("ALCE\x01")
)

const (
	fileKDFArgon2id = 1

	fileSaltSize  = 32
	fileKeySize   = 32
	fileNonceSize = chacha20poly1305.NonceSizeX
	fileTagSize   = chacha20poly1305.Overhead

	// fileVerifierText is sealed in the header; opening it proves the key.
	fileVerifierText = "activeloop-credential-helper file store"

	fileHeaderPrefix = 5 + 1 + 4 + 4 + 1 + fileSaltSize // authenticated by the verifier
	fileHeaderSize   = fileHeaderPrefix + fileNonceSize + len(fileVerifierText) + fileTagSize

	fileEntryOverhead = 5 + fileNonceSize + fileTagSize + 2

	// fileEntryNameLen is the length of an entry file's name: hex SHA-256.
	fileEntryNameLen = 2 * sha256.Size
)

// kdfParams are the Argon2id parameters of one store.
type kdfParams struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

var defaultKDFParams = kdfParams{Time: fileKDFTime, Memory: fileKDFMemory, Threads: fileKDFThreads}

func (p kdfParams) String() string {
	return fmt.Sprintf("argon2id t=%d m=%dKiB p=%d", p.Time, p.Memory, p.Threads)
}

func (p kdfParams) valid() error {
	switch {
	case p.Time < 1 || p.Time > fileKDFMaxTime:
		return fmt.Errorf("argon2id time %d outside 1..%d", p.Time, fileKDFMaxTime)
	case p.Threads < 1:
		return errors.New("argon2id threads is 0")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > fileKDFMaxMemory:
		return fmt.Errorf("argon2id memory %d KiB outside %d..%d", p.Memory, 8*uint32(p.Threads), fileKDFMaxMemory)
	}
	return nil
}

// fileHeader is a store's header file, parsed.
type fileHeader struct {
	KDF      kdfParams
	Salt     []byte
	Nonce    []byte
	Verifier []byte
}

// parseFileHeader decodes a header file. It checks the format, not the key.
func parseFileHeader(b []byte) (*fileHeader, error) {
	if len(b) < len(fileHeaderMagic) || !bytes.Equal(b[:4], fileHeaderMagic[:4]) {
		return nil, errors.New("not a credential store header")
	}
	if b[4] != fileHeaderMagic[4] {
		return nil, fmt.Errorf("header format version %d is newer than this helper understands: upgrade activeloop-credential-helper", b[4])
	}
	if len(b) != fileHeaderSize {
		return nil, fmt.Errorf("header is %d bytes, want %d", len(b), fileHeaderSize)
	}
	if b[5] != fileKDFArgon2id {
		return nil, fmt.Errorf("unknown key derivation function %d", b[5])
	}
	h := &fileHeader{KDF: kdfParams{
		Time:    binary.BigEndian.Uint32(b[6:10]),
		Memory:  binary.BigEndian.Uint32(b[10:14]),
		Threads: b[14],
	}}
	if err := h.KDF.valid(); err != nil {
		return nil, err
	}
	rest := b[15:]
	h.Salt, rest = clone(rest[:fileSaltSize]), rest[fileSaltSize:]
	h.Nonce, rest = clone(rest[:fileNonceSize]), rest[fileNonceSize:]
	h.Verifier = clone(rest)
	return h, nil
}

// marshal encodes h; parseFileHeader(h.marshal()) gives h back.
func (h *fileHeader) marshal() []byte {
	b := make([]byte, 0, fileHeaderSize)
	b = append(b, fileHeaderMagic...)
	b = append(b, fileKDFArgon2id)
	b = binary.BigEndian.AppendUint32(b, h.KDF.Time)
	b = binary.BigEndian.AppendUint32(b, h.KDF.Memory)
	b = append(b, h.KDF.Threads)
	b = append(b, h.Salt...)
	b = append(b, h.Nonce...)
	return append(b, h.Verifier...)
}

// prefix is the part of the header the verifier authenticates.
func (h *fileHeader) prefix() []byte { return h.marshal()[:fileHeaderPrefix] }

// fileKeys are the keys one master key splits into.
type fileKeys struct {
	master   []byte // Argon2id output; what the key cache holds
	entries  []byte // XChaCha20-Poly1305 key of the entries
	names    []byte // HMAC-SHA256 key naming the entry files
	verifier []byte // XChaCha20-Poly1305 key of the header's verifier
	check    []byte // HMAC-SHA256 key of the cached passphrase check
}

// deriveMaster runs the passphrase KDF: the slow step.
func deriveMaster(passphrase []byte, h *fileHeader) []byte {
	return argon2.IDKey(passphrase, h.Salt, h.KDF.Time, h.KDF.Memory, h.KDF.Threads, fileKeySize)
}

// splitKeys derives the per-use keys from the master key.
func splitKeys(master []byte) (*fileKeys, error) {
	k := &fileKeys{master: clone(master)}
	for _, s := range []struct {
		dst  *[]byte
		info string
	}{
		{&k.entries, "entries"},
		{&k.names, "names"},
		{&k.verifier, "verifier"},
		{&k.check, "passphrase check"},
	} {
		key, err := hkdf.Key(sha256.New, master, nil, "activeloop-credential-helper file store v1 "+s.info, fileKeySize)
		if err != nil {
			return nil, err
		}
		*s.dst = key
	}
	return k, nil
}

// newFileHeader makes the header of a new store and its keys.
func newFileHeader(passphrase []byte, p kdfParams) (*fileHeader, *fileKeys, error) {
	if err := p.valid(); err != nil {
		return nil, nil, err
	}
	h := &fileHeader{KDF: p, Salt: make([]byte, fileSaltSize), Nonce: make([]byte, fileNonceSize)}
	rand.Read(h.Salt)
	rand.Read(h.Nonce)
	k, err := splitKeys(deriveMaster(passphrase, h))
	if err != nil {
		return nil, nil, err
	}
	aead, err := chacha20poly1305.NewX(k.verifier)
	if err != nil {
		return nil, nil, err
	}
	h.Verifier = aead.Seal(nil, h.Nonce, []byte(fileVerifierText), h.prefix())
	return h, k, nil
}

// verify reports whether k is the key of the store whose header is h.
func (h *fileHeader) verify(k *fileKeys) bool {
	aead, err := chacha20poly1305.NewX(k.verifier)
	if err != nil {
		return false
	}
	text, err := aead.Open(nil, h.Nonce, h.Verifier, h.prefix())
	return err == nil && subtle.ConstantTimeCompare(text, []byte(fileVerifierText)) == 1
}

// passphraseTag lets a cached key be checked against a passphrase given
// again, without the KDF: whoever can read the tag can read the key itself.
func (k *fileKeys) passphraseTag(passphrase []byte) []byte {
	m := hmac.New(sha256.New, k.check)
	m.Write(passphrase)
	return m.Sum(nil)
}

// entryName is the name of the file holding the item key: it reveals nothing
// about the key to whoever does not hold the store's passphrase.
func (k *fileKeys) entryName(key string) string {
	m := hmac.New(sha256.New, k.names)
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil))
}

// isEntryName reports whether name has the form entryName gives.
func isEntryName(name string) bool {
	if len(name) != fileEntryNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// sealEntry encodes the entry file named name holding key and data.
func (k *fileKeys) sealEntry(name, key string, data []byte) ([]byte, error) {
	if len(key) > 0xffff {
		return nil, errors.New("item key too long")
	}
	aead, err := chacha20poly1305.NewX(k.entries)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, 0, 2+len(key)+len(data))
	plain = binary.BigEndian.AppendUint16(plain, uint16(len(key)))
	plain = append(plain, key...)
	plain = append(plain, data...)
	out := make([]byte, 0, fileEntryOverhead+len(key)+len(data))
	out = append(out, fileEntryMagic...)
	nonce := make([]byte, fileNonceSize)
	rand.Read(nonce)
	out = append(out, nonce...)
	out = aead.Seal(out, nonce, plain, entryAD(name))
	clear(plain)
	return out, nil
}

// errEntryVersion means an entry file was written by a newer helper.
var errEntryVersion = errors.New("was written by a newer version of this helper")

// errEntryKey means an entry file does not open under this store's key:
// damaged, or not written by this store.
var errEntryKey = errors.New("cannot be decrypted with this store's key: it is damaged or was not written by this store")

// openEntry decodes the entry file named name.
func (k *fileKeys) openEntry(name string, b []byte) (key string, data []byte, err error) {
	if len(b) < len(fileEntryMagic) || !bytes.Equal(b[:4], fileEntryMagic[:4]) {
		return "", nil, errors.New("not a credential file")
	}
	if b[4] != fileEntryMagic[4] {
		return "", nil, fmt.Errorf("%w (format version %d): upgrade activeloop-credential-helper", errEntryVersion, b[4])
	}
	if len(b) < fileEntryOverhead {
		return "", nil, errors.New("credential file is truncated")
	}
	aead, err := chacha20poly1305.NewX(k.entries)
	if err != nil {
		return "", nil, err
	}
	nonce := b[5 : 5+fileNonceSize]
	plain, err := aead.Open(nil, nonce, b[5+fileNonceSize:], entryAD(name))
	if err != nil {
		return "", nil, errEntryKey
	}
	n := int(binary.BigEndian.Uint16(plain))
	if 2+n > len(plain) {
		// Sealed by this store's key, so never: unless the format changed.
		return "", nil, errors.New("credential file holds a malformed record")
	}
	return string(plain[2 : 2+n]), plain[2+n:], nil
}

func entryAD(name string) []byte {
	ad := make([]byte, 0, len(fileEntryMagic)+len(name))
	ad = append(ad, fileEntryMagic...)
	return append(ad, name...)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
