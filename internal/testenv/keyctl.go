//go:build linux

package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// Keyctl checks that the kernel keyring can be used here and returns the
// options of the keyctl backend in the user scope. The keyring of the user
// outlives the test, so Keyctl refuses to start if the helper's keyring holds
// items (the tests would erase them), and unlinks that keyring when the test
// ends, so that every run starts empty. Test processes that run at once take
// turns: they share the user keyring.
func Keyctl(t testing.TB) store.Options {
	t.Helper()
	requireProgram(t, "keyctl", "keyutils")
	lock(t, filepath.Join(os.TempDir(), store.Namespace+"-keyctl-test.lock"))
	if out, err := exec.Command("keyctl", "rdescribe", "@u").CombinedOutput(); err != nil {
		t.Fatalf("the kernel keyring is not usable here (%v: %s): a container needs the keyctl and add_key system calls allowed by its seccomp profile", err, strings.TrimSpace(string(out)))
	}
	if id, ok := keyctlRing(); ok {
		if items := strings.Fields(string(run(t, nil, "keyctl", "rlist", id))); len(items) > 0 {
			t.Fatalf("the %s keyring already holds %d keys, which these tests would erase: remove it first with `keyctl unlink %s @u`", store.Namespace, len(items), id)
		}
	}
	t.Cleanup(func() {
		if id, ok := keyctlRing(); ok {
			if out, err := exec.Command("keyctl", "unlink", id, "@u").CombinedOutput(); err != nil {
				t.Errorf("keyctl unlink %s @u: %v: %s", id, err, strings.TrimSpace(string(out)))
			}
		}
	})
	return store.Options{KeyctlScope: "user"}
}

// keyctlRing returns the ID of the helper's keyring in the user keyring.
func keyctlRing() (id string, ok bool) {
	out, err := exec.Command("keyctl", "search", "@u", "keyring", store.Namespace).Output()
	if err != nil {
		return "", false
	}
	id = strings.TrimSpace(string(out))
	return id, id != ""
}

// lock holds an exclusive lock on the file name until the test ends.
func lock(t testing.TB, name string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("locking %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close() })
}
