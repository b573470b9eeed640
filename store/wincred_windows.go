package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/99designs/keyring"
	"github.com/danieljoos/wincred"
)

func init() { backends["wincred"] = openWincred }

const (
	// wincredMaxData is CRED_MAX_CREDENTIAL_BLOB_SIZE (5*512 bytes). Wine
	// does not enforce it; Windows does.
	wincredMaxData = 2560
	// wincredTarget prefixes the target name of every item: the library
	// writes prefix ":" service ":" key, and the service defaults to "default".
	wincredTarget = Namespace + ":default:"
	// wincredNotFound is ERROR_NOT_FOUND.
	wincredNotFound = syscall.Errno(1168)
)

// wincredBackend keeps items as generic credentials in Windows Credential
// Manager, each named wincredTarget + key.
type wincredBackend struct{ keyringBackend }

func (*wincredBackend) MaxData() int { return wincredMaxData }

// Keys lists the items itself: the library's Keys answers an empty list when
// the store cannot be enumerated.
func (b *wincredBackend) Keys(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	creds, err := wincred.FilteredList(wincredTarget + "*")
	if err != nil {
		return nil, fmt.Errorf("%w: wincred: listing items: %w", ErrUnavailable, err)
	}
	var names []string
	for _, c := range creds {
		if name, ok := strings.CutPrefix(c.TargetName, wincredTarget); ok {
			names = append(names, name)
		}
	}
	return itemNames(names), nil
}

func openWincred(_ context.Context, _ Options) (Backend, error) {
	kr, err := keyring.Open(keyring.Config{
		AllowedBackends: []keyring.BackendType{keyring.WinCredBackend},
		WinCredPrefix:   Namespace,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if _, err := wincred.FilteredList(wincredTarget + "*"); err != nil {
		return nil, fmt.Errorf("%w: Windows Credential Manager cannot be read: %w", ErrUnavailable, err)
	}
	return &wincredBackend{keyringBackend{name: "wincred", kr: kr, missing: func(_ string, err error) bool {
		return errors.Is(err, wincredNotFound)
	}}}, nil
}
