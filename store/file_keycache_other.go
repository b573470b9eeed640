//go:build !linux

package store

import "time"

// Only Linux has a key cache: macOS and Windows have no kernel keyring, and
// keeping the key in a file, or in a daemon of our own, would add a secret at
// rest or a process to manage. There every call runs the KDF (0.15–0.3 s);
// people who find that slow use the keychain or wincred backend, which
// their OS unlocks at login.

func fileCacheGet(string) ([]byte, bool)               { return nil, false }
func fileCachePut(string, []byte, time.Duration) error { return nil }
func fileCacheDrop(string) (bool, error)               { return false, nil }
func fileCacheDropAll() (int, error)                   { return 0, nil }
func fileCacheUsable() bool                            { return false }

const fileCacheAvailable = false
