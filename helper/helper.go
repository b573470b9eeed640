// Package helper implements the wire protocols the credential helper speaks,
// as pure functions over readers and writers, on top of a small Store.
//
// The docker-credential-helpers protocol (docker.go) is byte-for-byte that of
// github.com/docker/docker-credential-helpers v0.9.x: answers on stdout,
// errors as one line on stdout with exit status 1, hints for people on stderr.
//
// Server URLs are matched as SPEC §5 describes (server.go): stored as given,
// found by exact entry or by the longest path prefix on the same canonical
// origin, never on another host, port or scheme.
package helper

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// Store is what the protocols need of the secure store.
type Store interface {
	// Lookup returns the record under the first key of keys that is present,
	// or an error wrapping store.ErrNotFound.
	Lookup(ctx context.Context, keys []string) (store.Record, error)
	Put(ctx context.Context, key string, r store.Record) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context) ([]store.Record, error)
}

// Helper serves protocol requests from one Store.
type Helper struct {
	Store Store
	// Stderr receives hints for people; nil discards them.
	Stderr io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MaxInput caps what a protocol request may send on stdin.
const MaxInput = 1 << 20

// ErrInputTooLarge is returned for requests over MaxInput.
var ErrInputTooLarge = errors.New("input too large: over 1 MiB on stdin")

func (h *Helper) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Helper) stderr() io.Writer {
	if h.Stderr != nil {
		return h.Stderr
	}
	return io.Discard
}

// readInput reads all of r up to MaxInput.
func readInput(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxInput {
		return nil, ErrInputTooLarge
	}
	return b, nil
}
