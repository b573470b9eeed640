//go:build darwin && cgo

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gokeychain "github.com/99designs/go-keychain"
	"github.com/99designs/keyring"
)

func init() { backends["keychain"] = openKeychain }

// openKeychain opens the macOS Keychain: generic passwords of service
// Namespace, one account per item, never synchronised to iCloud. The Keychain
// itself may ask the user to unlock it or to allow access; nothing else
// prompts.
func openKeychain(_ context.Context, o Options) (Backend, error) {
	// The library appends ".keychain"; accept the name with or without it.
	name := strings.TrimSuffix(strings.TrimSuffix(o.KeychainName, ".keychain-db"), ".keychain")
	if name != "" {
		// The library would create a missing keychain on the first write,
		// asking for a new keychain password in a dialog.
		err := gokeychain.NewWithPath(name + ".keychain").Status()
		if errors.Is(err, gokeychain.ErrorNoSuchKeychain) {
			return nil, fmt.Errorf("%w: there is no keychain %q: create it with `security create-keychain %s.keychain`, or unset keychain_name to use the login keychain", ErrUnavailable, name, name)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: keychain %q: %w", ErrUnavailable, name, err)
		}
	}
	kr, err := keyring.Open(keyring.Config{
		AllowedBackends:          []keyring.BackendType{keyring.KeychainBackend},
		ServiceName:              Namespace,
		KeychainName:             name,
		KeychainTrustApplication: true,
		KeychainSynchronizable:   false,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return &keyringBackend{name: "keychain", kr: kr}, nil
}
