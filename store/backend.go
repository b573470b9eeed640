// Package store keeps credentials in the operating system's secure stores.
//
// Each backend is opened explicitly by name; nothing falls back silently to
// another store. Every call runs under a deadline. Items are namespaced, so
// Keys lists only this helper's items even in a shared keyring, and Delete of a
// missing item succeeds on every backend. Values are the versioned JSON
// records of record.go.
//
// This is the only package that imports github.com/99designs/keyring.
package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get when no item is stored under the key.
var ErrNotFound = errors.New("credentials not found")

// ErrUnavailable wraps every failure to reach a backend: not installed, not
// running, locked, or too slow to answer before the deadline.
var ErrUnavailable = errors.New("secure store unavailable")

// Backend is one secure store. Store hands it keys made by EscapeKey: short,
// non-empty strings of [A-Za-z0-9._%~-] that never start with a dot, so they
// are safe as file names, attribute values and target names everywhere. Data
// is an opaque byte string.
//
// Backends honour ctx where the underlying store allows it; Store adds a hard
// deadline around every call in any case.
type Backend interface {
	// Name is the backend's name as users select it, e.g. "pass".
	Name() string
	// Get returns the data stored under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores data under key, replacing what was there. Label is a
	// human-readable description for stores that show one; it is no secret.
	Set(ctx context.Context, key string, data []byte, label string) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Keys lists the keys of this helper's items only.
	Keys(ctx context.Context) ([]string, error)
}

// DataLimiter is implemented by backends that hold less than DefaultMaxData
// bytes per item (Windows Credential Manager: 2560).
type DataLimiter interface {
	MaxData() int
}

// DefaultMaxData is the largest record Store writes to a backend that states
// no limit of its own: room for a 64 KiB secret.
const DefaultMaxData = 96 << 10
