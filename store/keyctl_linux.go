package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/99designs/keyring"
	"golang.org/x/sys/unix"
)

func init() { backends["keyctl"] = openKeyctl }

// keyctlMaxData is the kernel's limit on the payload of a "user" key.
const keyctlMaxData = 32767

// keyctlPerm lets every process of the user, not only those that possess the
// keys, read and write them. By default keys grant the user only "view", and
// a process possesses keys in the user keyring only if its session keyring
// links that keyring: a container's session keyring and a new session
// (`keyctl session`) do not, so items written in one process could not be
// read by the next.
var keyctlPerm = keyring.GetPermissions(
	keyring.KEYCTL_PERM_ALL,
	keyring.KEYCTL_PERM_VIEW|keyring.KEYCTL_PERM_READ|keyring.KEYCTL_PERM_WRITE|keyring.KEYCTL_PERM_SEARCH|keyring.KEYCTL_PERM_LINK,
	0, 0)

// keyctlBackend keeps items as "user" keys in a keyring named Namespace,
// linked into the user (or session) keyring: Keys reads only that keyring.
// Items last until the user's last session ends or the machine reboots.
type keyctlBackend struct {
	keyringBackend
	ring int    // the named keyring's serial number
	perm uint32 // permissions set on new keys; 0 keeps the kernel's default
}

func (*keyctlBackend) MaxData() int { return keyctlMaxData }

// Set stages the new key in this thread's own keyring, where only this thread
// possesses it, sets its permissions, then links it into the named keyring,
// which atomically displaces the old key of the same name. The library stages
// in the session keyring instead, which concurrent processes share: one
// process's unlink there could take possession away from another between its
// add and its setperm, and that store failed with "permission denied".
func (b *keyctlBackend) Set(ctx context.Context, key string, data []byte, _ string) error {
	if err := checkCall(ctx, key); err != nil {
		return err
	}
	runtime.LockOSThread() // the thread keyring is this OS thread's alone
	defer runtime.UnlockOSThread()
	id, err := unix.AddKey("user", key, data, unix.KEY_SPEC_THREAD_KEYRING)
	if err != nil {
		if errors.Is(err, unix.EDQUOT) {
			return fmt.Errorf("%w: writing %s: the kernel's key quota for this user is full: see /proc/sys/kernel/keys/maxbytes and maxkeys, or remove unused keys", ErrUnavailable, key)
		}
		return b.fail("writing", key, err)
	}
	defer unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_THREAD_KEYRING, 0, 0)
	if b.perm != 0 {
		if _, err := unix.KeyctlInt(unix.KEYCTL_SETPERM, id, int(b.perm), 0, 0); err != nil {
			return b.fail("writing", key, err)
		}
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, id, b.ring, 0, 0); err != nil {
		return b.fail("writing", key, err)
	}
	return nil
}

// Keys lists the items of the named keyring. The library's Keys fails on
// the first key it cannot describe, so one revoked or expired key would hide
// every other item; such a key is skipped here, as Get reports it missing.
func (b *keyctlBackend) Keys(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := keyctlNames(b.ring)
	if err != nil {
		return nil, fmt.Errorf("%w: keyctl: listing items: %w", ErrUnavailable, err)
	}
	return itemNames(names), nil
}

// keyctlNames returns the descriptions of the "user" keys linked in ring,
// skipping keys that are revoked, expired or gone.
func keyctlNames(ring int) ([]string, error) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, ring, buf, 0)
		if err != nil {
			return nil, err
		}
		if n <= len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, n) // grew since: read again
	}
	var names []string
	for i := 0; i+4 <= len(buf); i += 4 {
		id := int(int32(binary.NativeEndian.Uint32(buf[i:])))
		desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
		switch {
		case errors.Is(err, unix.EKEYREVOKED), errors.Is(err, unix.EKEYEXPIRED), errors.Is(err, unix.ENOKEY):
			continue
		case err != nil:
			return nil, err
		}
		// type;uid;gid;perm;description
		if f := strings.SplitN(desc, ";", 5); len(f) == 5 && f[0] == "user" {
			names = append(names, f[4])
		}
	}
	return names, nil
}

func openKeyctl(_ context.Context, o Options) (Backend, error) {
	scope := o.KeyctlScope
	if scope == "" {
		scope = "user"
	}
	cfg := keyring.Config{
		AllowedBackends: []keyring.BackendType{keyring.KeyCtlBackend},
		KeyCtlScope:     scope,
		ServiceName:     Namespace,
	}
	ring := "@u"
	switch scope {
	case "user":
		if err := keyctlReachable(unix.KEY_SPEC_USER_KEYRING); err != nil {
			return nil, err
		}
		cfg.KeyCtlPerm = keyctlPerm
	case "session":
		ring = "@s"
		if err := keyctlReachable(unix.KEY_SPEC_SESSION_KEYRING); err != nil {
			return nil, err
		}
		// Without a session keyring of its own, the library would create
		// one for a single thread, and the items would go with the process.
		own, _ := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
		shared, _ := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_SESSION_KEYRING, false)
		if own == shared {
			return nil, fmt.Errorf("%w: this process has no session keyring: run it in a login session or under `keyctl session`, or use keyctl scope user", ErrUnavailable)
		}
		// Session keys are possessed by the whole session: default
		// permissions suffice, and the library cannot set others here (it
		// stages new keyrings in the session keyring and unlinks them).
	case "process", "thread":
		// The kernel gives each thread its own copy of these, and a Go
		// program moves its work between threads.
		return nil, fmt.Errorf("keyctl scope %q cannot hold items between calls of this helper: use user or session", scope)
	default:
		return nil, fmt.Errorf("unknown keyctl scope %q: use user or session", scope)
	}
	parent := unix.KEY_SPEC_USER_KEYRING
	if scope == "session" {
		parent = unix.KEY_SPEC_SESSION_KEYRING
	}
	// Made here, before the library would make it its own way.
	id, err := makeKeyctlRing(parent, uint32(cfg.KeyCtlPerm))
	if err != nil {
		if errors.Is(err, unix.EDQUOT) {
			return nil, fmt.Errorf("%w: making the %s keyring: the kernel's key quota for this user is full: see /proc/sys/kernel/keys/maxbytes and maxkeys, or remove unused keys", ErrUnavailable, Namespace)
		}
		return nil, fmt.Errorf("%w: making the %s keyring in %s: %w", ErrUnavailable, Namespace, ring, err)
	}
	kr, err := keyring.Open(cfg)
	if err != nil {
		// The library says only "backend not available" when the named
		// keyring is there but revoked.
		if _, serr := unix.KeyctlSearch(parent, "keyring", Namespace, 0); errors.Is(serr, unix.EKEYREVOKED) {
			return nil, fmt.Errorf("%w: the %s keyring was revoked, and its items with it: the kernel removes it within /proc/sys/kernel/keys/gc_delay seconds (300 by default), or remove it now with `keyctl unlink <ID> %s`, the ID of the revoked key that `keyctl show %s` lists; then store the credentials again", ErrUnavailable, Namespace, ring, ring)
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if id == 0 {
		id, err = unix.KeyctlSearch(parent, "keyring", Namespace, 0)
	}
	if err == nil {
		// Read the named keyring now: one made with the kernel's default
		// permissions by another program cannot be read outside its
		// session.
		_, err = keyctlNames(id)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the %s keyring cannot be read (%w): if another session made it, or it was revoked, remove it with `keyctl unlink %%keyring:%s %s` and store the credentials again", ErrUnavailable, Namespace, err, Namespace, ring)
	}
	return &keyctlBackend{
		keyringBackend: keyringBackend{name: "keyctl", kr: kr, missing: func(_ string, err error) bool {
			return errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYREVOKED) || errors.Is(err, unix.EKEYEXPIRED)
		}},
		ring: id,
		perm: uint32(cfg.KeyCtlPerm),
	}, nil
}

// makeKeyctlRing returns the named keyring in parent, made if it is missing,
// or 0 when the caller must search for it (another process made it first, or
// it is revoked or unreadable, which the caller explains). Two
// processes that both find it missing both make one, and linking a keyring
// displaces the one of the same name already linked, with every item written
// to it meanwhile: so the new keyring is made in this thread's own keyring,
// given its permissions there, and moved into parent only if parent still has
// none (KEYCTL_MOVE_EXCL, Linux 5.1); the loser uses the winner's. Older
// kernels link it, as the library would.
func makeKeyctlRing(parent int, perm uint32) (int, error) {
	found, err := unix.KeyctlSearch(parent, "keyring", Namespace, 0)
	switch {
	case err == nil:
		return found, nil
	case !errors.Is(err, unix.ENOKEY):
		return 0, nil // revoked or unreadable, which the caller explains
	}
	runtime.LockOSThread() // the thread keyring is this OS thread's alone
	defer runtime.UnlockOSThread()
	id, err := unix.AddKey("keyring", Namespace, nil, unix.KEY_SPEC_THREAD_KEYRING)
	if err != nil {
		return 0, err
	}
	defer unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_THREAD_KEYRING, 0, 0)
	if perm != 0 {
		if _, err := unix.KeyctlInt(unix.KEYCTL_SETPERM, id, int(perm), 0, 0); err != nil {
			return 0, err
		}
	}
	_, err = unix.KeyctlInt(unix.KEYCTL_MOVE, id, unix.KEY_SPEC_THREAD_KEYRING, parent, unix.KEYCTL_MOVE_EXCL)
	switch {
	case errors.Is(err, unix.EEXIST):
		return 0, nil // another process's came first: the caller finds it
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EINVAL):
		_, err = unix.KeyctlInt(unix.KEYCTL_LINK, id, parent, 0, 0)
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}

// keyctlReachable checks that the keyctl system calls work: the library
// hides their errno, and container runtimes often block them. It creates
// nothing: the kernel makes the user keyrings on first use anyway.
func keyctlReachable(ring int) error {
	_, err := unix.KeyctlGetKeyringID(ring, false)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("%w: the kernel keyring is not reachable (%w): container runtimes often block the keyctl and add_key system calls; allow them in the seccomp profile or choose another backend", ErrUnavailable, err)
	}
	return fmt.Errorf("%w: the kernel keyring is not reachable: %w", ErrUnavailable, err)
}
