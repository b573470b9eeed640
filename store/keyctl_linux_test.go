package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
	"github.com/activeloopai/activeloop-credential-helper/store"
	"github.com/activeloopai/activeloop-credential-helper/store/storetest"
)

// keyctlForeigner adds keys as another program would: right in the user
// keyring, beside the helper's keyring.
type keyctlForeigner struct{ store.Backend }

func (k keyctlForeigner) MaxData() int { return k.Backend.(store.DataLimiter).MaxData() }

func (keyctlForeigner) AddForeignItem(t *testing.T, name string, data []byte) {
	id := keyctl(t, data, "padd", "user", name, "@u")
	t.Cleanup(func() { exec.Command("keyctl", "unlink", id, "@u").Run() })
}

// keyctl runs keyctl(1) with stdin and returns its output.
func keyctl(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("keyctl", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("keyctl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

func TestKeyctlBackend(t *testing.T) {
	o := testenv.Keyctl(t)
	storetest.Run(t, func(t *testing.T) store.Backend {
		return keyctlForeigner{openKeyringBackend(t, "keyctl", o)}
	})
}

// childEnv, when set, makes TestKeyctlChild do its part of another test, in
// a process of its own.
const childEnv = "STORE_TEST_KEYCTL_CHILD"

// inSession runs TestKeyctlChild in the session keyring named session, "-"
// for a new one. A new session keyring does not link the user keyring, as in
// a container or under a service manager.
func inSession(t *testing.T, session, part string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("keyctl", "session", session, exe, "-test.run=^TestKeyctlChild$")
	cmd.Env = append(os.Environ(), childEnv+"="+part)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s in session keyring %s: %v\n%s", part, session, err, out)
	}
}

func TestKeyctlChild(t *testing.T) {
	part := os.Getenv(childEnv)
	if part == "" {
		return // run by the tests below
	}
	ctx := context.Background()
	switch part {
	case "user":
		b := openKeyringBackend(t, "keyctl", store.Options{})
		got, err := b.Get(ctx, "from-parent")
		if err != nil || string(got) != "parent wrote this" {
			t.Fatalf("Get(from-parent) = %q, %v", got, err)
		}
		if err := b.Set(ctx, "from-child", []byte("child wrote this"), "label"); err != nil {
			t.Fatal(err)
		}
	case "session":
		b := openKeyringBackend(t, "keyctl", store.Options{KeyctlScope: "session"})
		if err := b.Set(ctx, "k", []byte("v"), "label"); err != nil {
			t.Fatal(err)
		}
		if got, err := b.Get(ctx, "k"); err != nil || string(got) != "v" {
			t.Fatalf("Get(k) = %q, %v", got, err)
		}
		if keys, err := b.Keys(ctx); err != nil || !slices.Equal(keys, []string{"k"}) {
			t.Fatalf("Keys = %q, %v", keys, err)
		}
		if err := b.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	case "no-session":
		// Without a session keyring of its own the process would keep
		// items in one that dies with it: the scope must refuse.
		_, err := store.Open(ctx, "keyctl", store.Options{KeyctlScope: "session"})
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "no session keyring") {
			t.Fatalf("Open(session) without a session keyring: %v, want ErrUnavailable", err)
		}
	default:
		t.Fatalf("unknown part %q", part)
	}
}

func TestKeyctlItemsSurviveANewSession(t *testing.T) {
	o := testenv.Keyctl(t)
	b := openKeyringBackend(t, "keyctl", o)
	ctx := context.Background()
	if err := b.Set(ctx, "from-parent", []byte("parent wrote this"), "label"); err != nil {
		t.Fatal(err)
	}
	inSession(t, "-", "user")
	got, err := b.Get(ctx, "from-child")
	if err != nil || string(got) != "child wrote this" {
		t.Fatalf("Get(from-child) = %q, %v", got, err)
	}
}

func TestKeyctlSessionScope(t *testing.T) {
	testenv.Keyctl(t)
	inSession(t, "-", "session")
	// The user's session keyring stands in for a session keyring when a
	// process has none: join it explicitly to be in that state.
	inSession(t, "_uid_ses."+strconv.Itoa(os.Getuid()), "no-session")
}

func TestKeyctlScopesThatCannotWork(t *testing.T) {
	for _, scope := range []string{"process", "thread", "group", "bogus"} {
		_, err := store.Open(context.Background(), "keyctl", store.Options{KeyctlScope: scope})
		if err == nil || !strings.Contains(err.Error(), "use user or session") {
			t.Errorf("Open(keyctl, scope %s): %v, want an error naming the scopes that work", scope, err)
		}
	}
}

// Concurrent writers, each with a backend of its own as separate processes
// would have, all succeed, and the item ends as one of the values written.
func TestKeyctlConcurrentWriters(t *testing.T) {
	o := testenv.Keyctl(t)
	const writers, rounds = 8, 200
	errs := make(chan error, writers*rounds)
	var wg sync.WaitGroup
	for w := range writers {
		b := openKeyringBackend(t, "keyctl", o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				key := "shared"
				if r%2 == 1 {
					key = fmt.Sprintf("own-%d", w)
				}
				errs <- b.Set(context.Background(), key, fmt.Appendf(nil, "value %d/%d", w, r), "")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Set: %v", err)
		}
	}
	b := openKeyringBackend(t, "keyctl", o)
	got, err := b.Get(context.Background(), "shared")
	if err != nil || !strings.HasPrefix(string(got), "value ") {
		t.Fatalf("Get after concurrent writes = %q, %v", got, err)
	}
	keys, err := b.Keys(context.Background())
	if err != nil || len(keys) != writers+1 {
		t.Fatalf("Keys = %q, %v; want %d items", keys, err, writers+1)
	}
}

func BenchmarkKeyctlGet(b *testing.B) {
	o := testenv.Keyctl(b)
	be := openKeyringBackend(b, "keyctl", o)
	ctx := context.Background()
	if err := be.Set(ctx, "bench", []byte(`{"v":1}`), "bench"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := be.Get(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestKeyctlRevokedKey checks that a revoked key is one missing item, not a
// backend that no longer opens or lists.
func TestKeyctlRevokedKey(t *testing.T) {
	o := testenv.Keyctl(t)
	b := openKeyringBackend(t, "keyctl", o)
	ctx := context.Background()
	for _, k := range []string{"kept", "revoked"} {
		if err := b.Set(ctx, k, []byte(k+" data"), "label"); err != nil {
			t.Fatal(err)
		}
	}
	keyctl(t, nil, "revoke", keyctl(t, nil, "search", "@u", "user", "revoked"))
	b = openKeyringBackend(t, "keyctl", o) // opening lists the keyring
	if names, err := b.Keys(ctx); err != nil || !slices.Equal(names, []string{"kept"}) {
		t.Errorf("Keys = %q, %v; want [kept]", names, err)
	}
	if _, err := b.Get(ctx, "revoked"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(revoked) error = %v; want ErrNotFound", err)
	}
	if got, err := b.Get(ctx, "kept"); err != nil || string(got) != "kept data" {
		t.Errorf("Get(kept) = %q, %v", got, err)
	}
	if err := b.Set(ctx, "revoked", []byte("new data"), "label"); err != nil {
		t.Fatalf("Set over a revoked key: %v", err)
	}
	if got, err := b.Get(ctx, "revoked"); err != nil || string(got) != "new data" {
		t.Errorf("Get after Set over a revoked key = %q, %v", got, err)
	}
}

// TestKeyctlConcurrentFirstUse starts from no keyring at all, as on a fresh
// login, with many writers opening the backend at once: each would make the
// keyring, and a keyring made by one must not displace another's, taking
// items already written with it.
func TestKeyctlConcurrentFirstUse(t *testing.T) {
	o := testenv.Keyctl(t)
	const rounds, writers = 20, 16
	for round := range rounds {
		if out, err := exec.Command("sh", "-c", "id=$(keyctl search @u keyring "+store.Namespace+" 2>/dev/null) && keyctl unlink $id @u >/dev/null || true").CombinedOutput(); err != nil {
			t.Fatalf("removing the keyring: %v: %s", err, out)
		}
		errs := make(chan error, writers)
		start := make(chan struct{})
		for w := range writers {
			go func() {
				<-start
				b, err := store.Open(context.Background(), "keyctl", o)
				if err == nil {
					err = b.Set(context.Background(), fmt.Sprintf("r%d-w%d", round, w), []byte("v"), "")
				}
				errs <- err
			}()
		}
		close(start)
		for range writers {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		keys, err := openKeyringBackend(t, "keyctl", o).Keys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != writers {
			t.Fatalf("round %d: %d items after %d writers made one each: %q", round, len(keys), writers, keys)
		}
	}
}
