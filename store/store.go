package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// DefaultTimeout bounds every backend call unless configured otherwise: long
// enough for a cold gpg-agent, short enough that no git push or docker pull
// appears to hang.
const DefaultTimeout = 5 * time.Second

// Store reads and writes Records in one Backend, each call under a deadline.
type Store struct {
	b       Backend
	timeout time.Duration
	max     int
}

// New wraps b. A timeout of 0 means DefaultTimeout.
func New(b Backend, timeout time.Duration) *Store {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	max := DefaultMaxData
	if l, ok := b.(DataLimiter); ok {
		max = l.MaxData()
	}
	return &Store{b: b, timeout: timeout, max: max}
}

// Backend names the backend in use.
func (s *Store) Backend() string { return s.b.Name() }

// Get returns the record stored under key, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (Record, error) {
	var data []byte
	err := s.call(ctx, "read", func(ctx context.Context) (err error) {
		data, err = s.b.Get(ctx, EscapeKey(key))
		return err
	})
	if err != nil {
		return Record{}, err
	}
	return UnmarshalRecord(data)
}

// Lookup returns the record under the first of keys that is present, or an
// error wrapping ErrNotFound. The first key costs one read; when it is absent
// and there are more, the backend's names are listed once, so a deep path
// costs at most three calls, not one per path segment.
func (s *Store) Lookup(ctx context.Context, keys []string) (Record, error) {
	if len(keys) == 0 {
		return Record{}, ErrNotFound
	}
	r, err := s.Get(ctx, keys[0])
	if len(keys) == 1 || !errors.Is(err, ErrNotFound) {
		return r, err
	}
	var names []string
	err = s.call(ctx, "list", func(ctx context.Context) (err error) {
		names, err = s.b.Keys(ctx)
		return err
	})
	if err != nil {
		return Record{}, err
	}
	present := make(map[string]bool, len(names))
	for _, n := range names {
		present[n] = true
	}
	for _, k := range keys[1:] {
		if present[EscapeKey(k)] {
			return s.Get(ctx, k)
		}
	}
	return Record{}, ErrNotFound
}

// Put stores r under key, replacing any record there.
func (s *Store) Put(ctx context.Context, key string, r Record) error {
	data, err := MarshalRecord(r)
	if err != nil {
		return err
	}
	if len(data) > s.max {
		return fmt.Errorf("credential too large for the %s store: %d bytes encoded, limit %d", s.b.Name(), len(data), s.max)
	}
	label := "Deep Lake credentials for " + r.ServerURL
	return s.call(ctx, "write", func(ctx context.Context) error {
		return s.b.Set(ctx, EscapeKey(key), data, label)
	})
}

// Delete removes the record under key; a missing record is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.call(ctx, "erase", func(ctx context.Context) error {
		err := s.b.Delete(ctx, EscapeKey(key))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
}

// List returns every record of this helper, sorted by server URL. Items that
// cannot be decoded are skipped and reported together in err, so one bad item
// never hides the others.
func (s *Store) List(ctx context.Context) ([]Record, error) {
	var names []string
	err := s.call(ctx, "list", func(ctx context.Context) (err error) {
		names, err = s.b.Keys(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	var (
		recs []Record
		errs []error
	)
	for _, name := range names {
		var data []byte
		err := s.call(ctx, "read", func(ctx context.Context) (err error) {
			data, err = s.b.Get(ctx, name)
			return err
		})
		if errors.Is(err, ErrNotFound) {
			continue // removed while we listed
		}
		if err == nil {
			var r Record
			if r, err = UnmarshalRecord(data); err == nil {
				recs = append(recs, r)
				continue
			}
		}
		errs = append(errs, fmt.Errorf("item %s: %w", name, err))
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ServerURL < recs[j].ServerURL })
	return recs, errors.Join(errs...)
}

// call runs fn under the store's deadline. Backends that cannot be
// interrupted (a blocked D-Bus call, a library without contexts) are
// abandoned at the deadline: the process is short-lived and answers in time.
func (s *Store) call(ctx context.Context, what string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: the %s store did not %s within %s (locked, or waiting for a prompt?); raise it with --timeout or ACTIVELOOP_CREDENTIAL_TIMEOUT",
				ErrUnavailable, s.b.Name(), what, s.timeout)
		}
		return ctx.Err()
	}
}
