//go:build linux || darwin || windows

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/99designs/keyring"
)

// keyringBackend adapts one github.com/99designs/keyring backend to Backend.
//
// The library's backends disagree: a missing item is keyring.ErrKeyNotFound,
// an *os.PathError, an errno, or nothing at all on Remove; Keys may list
// names no Set of ours could have made. This type gives them one behaviour.
// The library takes no context: Store's deadline abandons a call that hangs.
type keyringBackend struct {
	name string
	kr   keyring.Keyring
	// missing reports whether err, returned by the library for key, means
	// the item does not exist, beyond keyring.ErrKeyNotFound. May be nil.
	missing func(key string, err error) bool
}

func (b *keyringBackend) Name() string { return b.name }

func (b *keyringBackend) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkCall(ctx, key); err != nil {
		return nil, err
	}
	item, err := b.kr.Get(key)
	switch {
	case err == nil:
		return item.Data, nil
	case b.isMissing(key, err):
		return nil, ErrNotFound
	case isDecodeError(err):
		// Never pass the decoder's message on: it may quote the item.
		return nil, fmt.Errorf("item %s in the %s store was not written by this helper", key, b.name)
	}
	return nil, b.fail("reading", key, err)
}

func (b *keyringBackend) Set(ctx context.Context, key string, data []byte, label string) error {
	if err := checkCall(ctx, key); err != nil {
		return err
	}
	if err := b.kr.Set(keyring.Item{Key: key, Data: data, Label: label}); err != nil {
		return b.fail("writing", key, err)
	}
	return nil
}

func (b *keyringBackend) Delete(ctx context.Context, key string) error {
	if err := checkCall(ctx, key); err != nil {
		return err
	}
	if err := b.kr.Remove(key); err != nil && !b.isMissing(key, err) {
		return b.fail("deleting", key, err)
	}
	return nil
}

func (b *keyringBackend) Keys(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := b.kr.Keys()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: listing items: %w", ErrUnavailable, b.name, err)
	}
	return itemNames(names), nil
}

func (b *keyringBackend) isMissing(key string, err error) bool {
	return errors.Is(err, keyring.ErrKeyNotFound) || b.missing != nil && b.missing(key, err)
}

// fail wraps a failure of the underlying store. The library's errors name
// programs, paths and status codes, never item data.
func (b *keyringBackend) fail(doing, key string, err error) error {
	return fmt.Errorf("%w: %s: %s %s: %w", ErrUnavailable, b.name, doing, key, err)
}

// checkCall refuses a cancelled call and a key that EscapeKey cannot have made,
// so that no name reaches a store as a path ("../x") or a pattern.
func checkCall(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !isItemName(key) {
		return fmt.Errorf("invalid item name %q", key)
	}
	return nil
}

// isItemName reports whether name is one EscapeKey can return.
func isItemName(name string) bool {
	if name == "" || name[0] == '.' || len(name) > maxEscapedKey {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == '%', c == '~':
		default:
			return false
		}
	}
	return true
}

// itemNames keeps, sorted, the names in a store's listing that EscapeKey can
// have made: whatever else shares the namespace is not this helper's.
func itemNames(names []string) []string {
	keys := make([]string, 0, len(names))
	for _, n := range names {
		if isItemName(n) {
			keys = append(keys, n)
		}
	}
	sort.Strings(keys)
	return keys
}

// isDecodeError reports an error from decoding a stored item as JSON, which
// pass does with what it reads from the store.
func isDecodeError(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &typ)
}
