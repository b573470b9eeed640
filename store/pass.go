//go:build !windows

package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/99designs/keyring"
)

func init() { backends["pass"] = openPass }

// openPass opens the password store of pass(1), https://www.passwordstore.org.
// Items live under the prefix directory, one gpg file each. The library runs
// `pass insert` with the item on stdin, so no secret reaches an argv; pass's
// own messages go to stderr. Reads run gpg directly (pass_read.go).
func openPass(_ context.Context, o Options) (Backend, error) {
	prefix := o.PassPrefix
	if prefix == "" {
		prefix = Namespace
	}
	if !filepath.IsLocal(prefix) {
		return nil, fmt.Errorf("pass prefix %q must be a relative path inside the password store", prefix)
	}
	dir, err := passDir(o.PassDir)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("pass"); err != nil {
		return nil, fmt.Errorf("%w: the pass program is not on PATH: install pass (apt-get install pass, brew install pass)", ErrUnavailable)
	}
	if !onPath("gpg2") && !onPath("gpg") {
		return nil, fmt.Errorf("%w: gpg is not on PATH, and pass needs it: install GnuPG (apt-get install gnupg, brew install gnupg)", ErrUnavailable)
	}
	// The library accepts an uninitialised store and then fails on every
	// write: check for the .gpg-id that `pass init` writes.
	if !passInitialised(dir, prefix) {
		return nil, fmt.Errorf("%w: the password store %s is not initialised: run `pass init <gpg-key-id>`, or point PASSWORD_STORE_DIR or the pass_dir setting at your store", ErrUnavailable, dir)
	}
	kr, err := keyring.Open(keyring.Config{
		AllowedBackends: []keyring.BackendType{keyring.PassBackend},
		PassDir:         dir,
		PassPrefix:      prefix,
		PassCmd:         "pass",
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	items := filepath.Join(dir, prefix)
	return &passBackend{items: items, keyringBackend: &keyringBackend{name: "pass", kr: kr, missing: func(key string, _ error) bool {
		// The library checks that the file exists before it runs pass, but
		// the item may go in between. A failure to run pass (ENOENT from a
		// missing interpreter, say) must not pass for a missing item, so
		// ask the file system, not the error.
		return !isRegularFile(filepath.Join(items, key+".gpg"))
	}}}, nil
}

// passDir returns the store directory as pass(1) finds it, made absolute.
func passDir(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("PASSWORD_STORE_DIR")
	}
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%w: cannot find the password store: %w", ErrUnavailable, err)
		}
		dir = filepath.Join(home, ".password-store")
	}
	dir, err := keyring.ExpandTilde(dir)
	if err != nil {
		return "", fmt.Errorf("%w: cannot find the password store: %w", ErrUnavailable, err)
	}
	return filepath.Abs(dir)
}

// passInitialised reports whether pass finds a .gpg-id for items under
// prefix: in the prefix directory or one of its parents inside dir.
func passInitialised(dir, prefix string) bool {
	for p := filepath.Join(dir, prefix); ; p = filepath.Dir(p) {
		if isRegularFile(filepath.Join(p, ".gpg-id")) {
			return true
		}
		if p == dir || len(p) < len(dir) {
			return false
		}
	}
}

func isRegularFile(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

func onPath(program string) bool {
	_, err := exec.LookPath(program)
	return err == nil
}
