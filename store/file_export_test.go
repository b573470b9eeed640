package store

import (
	"path/filepath"
	"testing"
	"time"
)

// Hooks of the file backend for the tests of package store_test.

// CheapFileKDF makes the file stores a test creates use the cheapest
// Argon2id parameters, so that a test unlocks a store in microseconds. The
// parameters are kept in each store's header: stores made so still open
// with them in other processes.
func CheapFileKDF(t testing.TB) {
	old := fileKDF
	fileKDF = kdfParams{Time: 1, Memory: 8, Threads: 1}
	t.Cleanup(func() { fileKDF = old })
}

// NoTerminal makes the file backend find no terminal to ask on.
func NoTerminal(t testing.TB) {
	old := ttyName
	ttyName = filepath.Join(t.TempDir(), "no-tty")
	t.Cleanup(func() { ttyName = old })
}

// FileHeaderKDF returns the KDF parameters in the header of the store in dir.
func FileHeaderKDF(dir string) (time, memoryKiB uint32, threads uint8, err error) {
	_, h, err := readHeader(dir)
	if err != nil {
		return 0, 0, 0, err
	}
	return h.KDF.Time, h.KDF.Memory, h.KDF.Threads, nil
}

// DefaultFileKDF returns the parameters of new stores outside tests.
func DefaultFileKDF() (time, memoryKiB uint32, threads uint8) {
	return defaultKDFParams.Time, defaultKDFParams.Memory, defaultKDFParams.Threads
}

// FileCacheDesc returns the description of the cached key of the store in
// dir.
func FileCacheDesc(dir string) (string, error) {
	_, h, err := readHeader(dir)
	if err != nil {
		return "", err
	}
	return fileCacheDesc(dir, h.Salt), nil
}

// FileCachePut caches payload as the key of the store in dir.
func FileCachePut(dir string, payload []byte, ttl time.Duration) error {
	desc, err := FileCacheDesc(dir)
	if err != nil {
		return err
	}
	return fileCachePut(desc, payload, ttl)
}

// FileCacheGet returns what is cached for the store in dir.
func FileCacheGet(dir string) ([]byte, bool) {
	desc, err := FileCacheDesc(dir)
	if err != nil {
		return nil, false
	}
	return fileCacheGet(desc)
}
