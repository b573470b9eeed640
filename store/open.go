package store

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Namespace prefixes every item this helper writes: the pass subdirectory, the
// kwallet folder, the Secret Service "service" attribute, the wincred target
// prefix, the keyctl keyring and the Keychain service.
const Namespace = "activeloop-credential-helper"

// Options are the per-backend settings of the config file (SPEC §10). The
// zero value means every default.
type Options struct {
	PassDir    string // password store directory; default $PASSWORD_STORE_DIR or ~/.password-store
	PassPrefix string // subdirectory of the store; default Namespace

	SecretServiceCollection string // collection label; default the "default" alias (usually "login")

	KWalletWallet string // default the network wallet ("kdewallet")
	KWalletFolder string // default Namespace

	KeychainName string // default the login keychain

	KeyctlScope string // user or session; default user

	FileDir            string        // encrypted file backend directory
	FilePassphraseFile string        // a file holding the file backend's passphrase
	FileKeyCacheTTL    time.Duration // how long the derived key may be cached; 0 disables

	// SessionBus is the D-Bus session bus address for secret-service and
	// kwallet; empty means the one the process was started with. Never
	// autolaunched.
	SessionBus string

	// Probe asks an opener to check that its backend works without changing
	// anything or asking anyone: create no store, prompt for nothing.
	Probe bool
}

// opener opens one backend and checks that it works now: installed, running,
// unlocked, initialised. Its error says what is missing and how to fix it.
type opener func(ctx context.Context, o Options) (Backend, error)

// backends holds the openers compiled into this build, filled by per-OS files.
var backends = map[string]opener{}

// Names lists every backend name a user may select on any OS, in the order
// auto prefers them on Linux.
var Names = []string{"keychain", "wincred", "secret-service", "kwallet", "pass", "keyctl", "file"}

// Available lists the backends compiled into this build.
func Available() []string {
	var names []string
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the named backend and checks it can be used now. It never falls
// back to another backend.
func Open(ctx context.Context, name string, o Options) (Backend, error) {
	if name == "" || name == "auto" {
		b, _, err := Auto(ctx, o)
		return b, err
	}
	open, ok := backends[name]
	if !ok {
		if !known(name) {
			return nil, fmt.Errorf("unknown backend %q: choose one of auto, %s", name, strings.Join(Names, ", "))
		}
		return nil, fmt.Errorf("%w: the %s backend is not available on %s/%s%s", ErrUnavailable, name, runtime.GOOS, runtime.GOARCH, buildHint(name))
	}
	b, err := openWithin(ctx, name, open, o)
	if err != nil {
		return nil, fmt.Errorf("%s backend: %w", name, err)
	}
	return b, nil
}

// openWithin runs an opener until ctx's deadline. An opener stuck in a call
// that cannot be interrupted is abandoned; the process is short-lived.
func openWithin(ctx context.Context, name string, open opener, o Options) (Backend, error) {
	type result struct {
		b   Backend
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := open(ctx, o)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: the %s store did not answer in time (locked, or waiting for a prompt?)", ErrUnavailable, name)
	}
}

func known(name string) bool {
	for _, n := range Names {
		if n == name {
			return true
		}
	}
	return false
}

func buildHint(name string) string {
	if name == "keychain" && runtime.GOOS == "darwin" {
		return " (this binary was built without cgo, which the Keychain needs: install a release build)"
	}
	return ""
}

// autoOrder is the order auto tries backends on this OS.
func autoOrder() []string {
	switch runtime.GOOS {
	case "darwin":
		return []string{"keychain"}
	case "windows":
		return []string{"wincred"}
	default:
		return []string{"secret-service", "kwallet", "pass", "file"}
	}
}

// Auto opens the first backend in this OS's order that works now and says
// why it was chosen, and why each one before it was passed over.
func Auto(ctx context.Context, o Options) (b Backend, reason string, err error) {
	var skipped, tried []string
	for _, name := range autoOrder() {
		open, ok := backends[name]
		if !ok {
			// Only a darwin build without cgo lacks its OS's own store: say
			// so loudly rather than pass over it.
			skipped = append(skipped, name+" (not in this build"+buildHint(name)+")")
			tried = append(tried, name+" (not in this build"+buildHint(name)+")")
			continue
		}
		b, err := openWithin(ctx, name, open, o)
		if err == nil {
			reason = "auto: " + name + " is usable"
			if name == "file" && len(skipped) > 0 {
				reason = "auto: fell back to file, the encrypted file store, as no other secure store is usable"
			}
			if len(skipped) > 0 {
				reason += "; passed over " + strings.Join(skipped, "; ")
			}
			return b, reason, nil
		}
		skipped = append(skipped, name+" ("+Reason(err)+")")
		tried = append(tried, name)
	}
	return nil, "", fmt.Errorf("%w: no usable secure store here (tried %s): run `activeloop-credential-helper doctor` to see why and how to fix one, or choose a backend with --backend or ACTIVELOOP_CREDENTIAL_BACKEND",
		ErrUnavailable, strings.Join(tried, ", "))
}

// Reason is an opener's error without the words every one of them starts
// with, for lists of reasons.
func Reason(err error) string {
	msg := err.Error()
	if name, rest, ok := strings.Cut(msg, " backend: "); ok && known(name) {
		msg = rest // Open's "pass backend: "
	}
	msg = strings.TrimPrefix(msg, ErrUnavailable.Error()+": ")
	return strings.Join(strings.Fields(msg), " ")
}
