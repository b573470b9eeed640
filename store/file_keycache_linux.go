package store

import (
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The file backend's key cache on Linux: the master key of an unlocked store
// is kept as a "user" key in the kernel's user keyring (@u), with a timeout,
// so that only the first call in file_key_cache_ttl pays for the KDF. The
// kernel keeps it in its own memory, never on disk, and drops it when the
// timeout passes or `lock` asks. Until then every process of the same user
// can read it — as it can read that user's passphrase file, or the
// environment of the process given the passphrase — and nobody else can. A
// reboot ends it too. Errors of the keyring (a container's seccomp profile
// may forbid it) only make the cache miss.

// fileCachePerm: the possessor may do everything; every process of the user
// may find, read and drop the key even when its session keyring does not link
// the user keyring (containers, `keyctl session`), as for the keyctl backend.
// Nobody else may do anything.
const fileCachePerm = 0x3f<<24 | (0x01|0x02|0x08)<<16 // possessor: all; user: view, read, search

const fileCacheType = "user"

// fileCacheGet returns the payload cached under desc, if any.
func fileCacheGet(desc string) ([]byte, bool) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, fileCacheType, desc, 0)
	if err != nil {
		return nil, false
	}
	buf := make([]byte, 256)
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
	if err != nil || n > len(buf) {
		return nil, false
	}
	return buf[:n], true
}

// fileCachePut caches payload under desc for ttl, replacing what was there.
// The key is made in this thread's own keyring, where this thread alone
// possesses it, given its permissions and timeout, and only then linked into
// the user keyring: no other process can see it half set up.
func fileCachePut(desc string, payload []byte, ttl time.Duration) error {
	// Whole seconds, as the kernel counts them.
	secs := int(min((ttl+time.Second-1)/time.Second, 1<<31-1))
	runtime.LockOSThread() // the thread keyring is this OS thread's alone
	defer runtime.UnlockOSThread()
	id, err := unix.AddKey(fileCacheType, desc, payload, unix.KEY_SPEC_THREAD_KEYRING)
	if err != nil {
		return err
	}
	defer unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_THREAD_KEYRING, 0, 0)
	if _, err := unix.KeyctlInt(unix.KEYCTL_SETPERM, id, fileCachePerm, 0, 0); err != nil {
		unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		return err
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, id, secs, 0, 0); err != nil {
		unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		return err
	}
	// Linking displaces an older key of the same description in @u.
	if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0); err != nil {
		unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		return err
	}
	return nil
}

// fileCacheDrop removes the key cached under desc and reports whether there
// was one.
func fileCacheDrop(desc string) (bool, error) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, fileCacheType, desc, 0)
	switch {
	case errors.Is(err, unix.ENOKEY), errors.Is(err, unix.EKEYEXPIRED), errors.Is(err, unix.EKEYREVOKED),
		errors.Is(err, unix.EPERM), errors.Is(err, unix.ENOSYS):
		return false, nil // nothing cached, or no keyring here at all
	case err != nil:
		return false, err
	}
	return true, dropKey(id)
}

// dropKey invalidates a key, which removes it from every keyring at once;
// kernels before 3.5 only let it be unlinked from the user keyring.
func dropKey(id int) error {
	if _, err := unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0); err == nil || errors.Is(err, unix.ENOKEY) {
		return nil
	}
	_, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0)
	if errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// fileCacheDropAll removes every key this helper cached in the user keyring
// and returns how many there were.
func fileCacheDropAll() (int, error) {
	buf := make([]byte, 4096)
	var n int
	for {
		var err error
		n, err = unix.KeyctlBuffer(unix.KEYCTL_READ, unix.KEY_SPEC_USER_KEYRING, buf, 0)
		if errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			return 0, nil // no keyring here, so nothing cached
		}
		if err != nil {
			return 0, err
		}
		if n <= len(buf) {
			break
		}
		buf = make([]byte, n)
	}
	dropped := 0
	var errs []error
	for i := 0; i+4 <= n; i += 4 {
		id := int(int32(binary.NativeEndian.Uint32(buf[i:])))
		d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
		if err != nil {
			continue // gone, or not ours to see
		}
		// type;uid;gid;perm;description
		parts := strings.SplitN(d, ";", 5)
		if len(parts) != 5 || parts[0] != fileCacheType || !strings.HasPrefix(parts[4], fileCachePrefix) {
			continue
		}
		if err := dropKey(id); err != nil {
			errs = append(errs, err)
			continue
		}
		dropped++
	}
	return dropped, errors.Join(errs...)
}

// fileCacheAvailable: this build can cache keys.
const fileCacheAvailable = true

// fileCacheUsable reports whether the kernel keyring can be reached: a
// container's seccomp profile may forbid it.
func fileCacheUsable() bool {
	_, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, false)
	return err == nil
}
