package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
	"github.com/activeloopai/activeloop-credential-helper/store"
	"github.com/activeloopai/activeloop-credential-helper/store/storetest"
	"github.com/godbus/dbus/v5"
)

// secretServiceTest is the secret-service backend on a test's private
// gnome-keyring, able to write items as another application would.
type secretServiceTest struct {
	store.Backend
	bus string
}

func (s secretServiceTest) AddForeignItem(t *testing.T, name string, data []byte) {
	t.Helper()
	cmd := exec.Command("secret-tool", "store", "--label=another application's item", "service", "other-app", "key", name)
	cmd.Env = testenv.Env(s.bus)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret-tool store: %v\n%s", err, out)
	}
}

func openOnBus(t testing.TB, name string, o store.Options) store.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := store.Open(ctx, name, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	t.Cleanup(func() { b.(io.Closer).Close() })
	return b
}

// openOnBusWithin opens a backend under a deadline of d and returns the error and
// how long it took.
func openOnBusWithin(name string, o store.Options, d time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	b, err := store.Open(ctx, name, o)
	if err == nil {
		b.(io.Closer).Close()
	}
	return time.Since(start), err
}

// wantBusUnavailable checks that err wraps ErrUnavailable, says what is wrong,
// and came within limit.
func wantBusUnavailable(t *testing.T, err error, took, limit time.Duration, says string) {
	t.Helper()
	t.Logf("after %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v, want one wrapping ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("err = %q, want it to say %q", err, says)
	}
	if took > limit {
		t.Errorf("took %s, want at most %s", took, limit)
	}
}

func secretService(t testing.TB, bus string) store.Backend {
	return openOnBus(t, "secret-service", store.Options{SessionBus: bus})
}

// ssCall calls the Secret Service on bus as another client would.
func ssCall(t testing.TB, bus string, path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	t.Helper()
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := conn.Object("org.freedesktop.secrets", path).CallWithContext(ctx, method, dbus.FlagNoAutoStart, args...)
	if c.Err != nil {
		t.Fatalf("%s: %v", method, c.Err)
	}
	return c
}

func lockDefaultCollection(t testing.TB, bus string) {
	t.Helper()
	var coll dbus.ObjectPath
	ssCall(t, bus, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service.ReadAlias", "default").Store(&coll)
	ssCall(t, bus, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service.Lock", []dbus.ObjectPath{coll})
}

func TestSecretServiceBehaviour(t *testing.T) {
	bus := testenv.SecretService(t)
	storetest.Run(t, func(t *testing.T) store.Backend {
		return secretServiceTest{secretService(t, bus), bus}
	})
}

// TestSecretServiceOneItemPerKey checks that Set leaves exactly one item per
// key, even when an item under that key was written by another tool with
// other attributes, which the Secret Service's replace does not match; and
// that other libsecret clients read our items byte for byte.
func TestSecretServiceOneItemPerKey(t *testing.T) {
	bus := testenv.SecretService(t)
	b := secretService(t, bus)
	ctx := context.Background()

	cmd := exec.Command("secret-tool", "store", "--label=older", "service", store.Namespace, "key", "k")
	cmd.Env = testenv.Env(bus)
	cmd.Stdin = strings.NewReader("older value")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret-tool store: %v\n%s", err, out)
	}
	for _, v := range []string{"first", "second\n"} {
		if err := b.Set(ctx, "k", []byte(v), "label of k"); err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	var unlocked, locked []dbus.ObjectPath
	ssCall(t, bus, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service.SearchItems",
		map[string]string{"service": store.Namespace, "key": "k"}).Store(&unlocked, &locked)
	if n := len(unlocked) + len(locked); n != 1 {
		t.Fatalf("%d items under key k after two Sets, want 1", n)
	}
	var attrs map[string]string
	ssCall(t, bus, unlocked[0], "org.freedesktop.DBus.Properties.Get", "org.freedesktop.Secret.Item", "Attributes").Store(&attrs)
	if attrs["xdg:schema"] != "ai.activeloop.CredentialHelper" {
		t.Errorf("attributes = %v, want our xdg:schema", attrs)
	}
	var label string
	ssCall(t, bus, unlocked[0], "org.freedesktop.DBus.Properties.Get", "org.freedesktop.Secret.Item", "Label").Store(&label)
	if label != "label of k" {
		t.Errorf("label = %q", label)
	}

	cmd = exec.Command("secret-tool", "lookup", "service", store.Namespace, "key", "k")
	cmd.Env = testenv.Env(bus)
	out, err := cmd.Output()
	if err != nil || string(out) != "second\n" {
		t.Fatalf("secret-tool lookup = %q, %v; want %q", out, err, "second\n")
	}
}

func TestSecretServiceCollectionByLabel(t *testing.T) {
	bus := testenv.SecretService(t)
	b := openOnBus(t, "secret-service", store.Options{SessionBus: bus, SecretServiceCollection: "Login"})
	if err := b.Set(context.Background(), "k", []byte("v"), "k"); err != nil {
		t.Fatalf("Set in the collection labelled Login: %v", err)
	}
	took, err := openOnBusWithin("secret-service", store.Options{SessionBus: bus, SecretServiceCollection: "nonesuch"}, 2*time.Second)
	wantBusUnavailable(t, err, took, time.Second, `no collection labelled "nonesuch"`)
}

// TestSecretServiceLocked checks that a locked keyring opens, and that a read
// or a write is a prompt error well within the deadline, never a hang: nobody
// can answer a password prompt here.
func TestSecretServiceLocked(t *testing.T) {
	bus := testenv.SecretService(t)
	b := secretService(t, bus)
	if err := b.Set(context.Background(), "k", []byte("v"), "k"); err != nil {
		t.Fatal(err)
	}
	lockDefaultCollection(t, bus)

	// Opening needs no unlock: no prompt, no wait.
	start := time.Now()
	b = openOnBus(t, "secret-service", store.Options{SessionBus: bus})
	if took := time.Since(start); took > time.Second {
		t.Errorf("opening a locked collection took %s", took)
	}
	s := store.New(b, 2*time.Second)
	start = time.Now()
	_, err := s.Get(context.Background(), "k")
	wantBusUnavailable(t, err, time.Since(start), 2500*time.Millisecond, "locked")
	if err := b.Set(context.Background(), "k", []byte("new"), "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Set in a locked collection: %v, want ErrUnavailable", err)
	}
	if k, err := b.Keys(context.Background()); err != nil || len(k) != 1 {
		t.Errorf("Keys of a locked collection = %q, %v; want [k]: attributes stay readable", k, err)
	}
}

func TestSecretServiceNotRunning(t *testing.T) {
	bus := testenv.SessionBus(t)
	took, err := openOnBusWithin("secret-service", store.Options{SessionBus: bus}, 2*time.Second)
	wantBusUnavailable(t, err, took, time.Second, "no Secret Service")
}

func TestSecretServiceNoBus(t *testing.T) {
	took, err := openOnBusWithin("secret-service", store.Options{SessionBus: "disabled:"}, 2*time.Second)
	wantBusUnavailable(t, err, took, time.Second, "no D-Bus session bus is running")
	took, err = openOnBusWithin("secret-service", store.Options{SessionBus: "unix:path=" + t.TempDir() + "/bus"}, 2*time.Second)
	wantBusUnavailable(t, err, took, time.Second, "cannot connect to the D-Bus session bus")
}

// TestSecretServiceHung checks that a daemon that stops answering is an
// error at the deadline: stopped before open, and stopped after it.
func TestSecretServiceHung(t *testing.T) {
	bus := testenv.SecretService(t)
	b := secretService(t, bus)
	pid := testenv.OwnerPID(t, bus, "org.freedesktop.secrets")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })

	took, err := openOnBusWithin("secret-service", store.Options{SessionBus: bus}, time.Second)
	wantBusUnavailable(t, err, took, 1500*time.Millisecond, "in time")
	if took < time.Second {
		t.Errorf("gave up after %s, before the deadline", took)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err = b.Get(ctx, "k")
	wantBusUnavailable(t, err, time.Since(start), 1500*time.Millisecond, "no answer in time")
}

func TestSecretServiceUnresponsiveOwner(t *testing.T) {
	bus := testenv.SessionBus(t)
	testenv.Unresponsive(t, bus, "org.freedesktop.secrets")
	took, err := openOnBusWithin("secret-service", store.Options{SessionBus: bus}, time.Second)
	wantBusUnavailable(t, err, took, 1500*time.Millisecond, "in time")
}

func BenchmarkSecretServiceGet(b *testing.B) {
	bus := testenv.SecretService(b)
	s := secretService(b, bus)
	ctx := context.Background()
	data := bytes.Repeat([]byte("x"), 300) // about the size of a record
	if err := s.Set(ctx, "bench", data, "bench"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Get(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSecretServiceOpenGet is what one run of the helper spends in the
// store: connect, check and unlock, open a session, read.
func BenchmarkSecretServiceOpenGet(b *testing.B) {
	bus := testenv.SecretService(b)
	if err := secretService(b, bus).Set(context.Background(), "bench", []byte("x"), "bench"); err != nil {
		b.Fatal(err)
	}
	benchOpenGet(b, "secret-service", store.Options{SessionBus: bus})
}

func benchOpenGet(b *testing.B, name string, o store.Options) {
	ctx := context.Background()
	for b.Loop() {
		s, err := store.Open(ctx, name, o)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
		s.(io.Closer).Close()
	}
}

// unansweredKeyring is a Secret Service whose default collection is locked
// and whose unlock prompt nobody answers, as on a desktop whose user is away.
// It counts the unlocks asked of it.
type unansweredKeyring struct{ unlocks *atomic.Int32 }

const (
	unansweredCollection = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")
	unansweredItem       = dbus.ObjectPath("/org/freedesktop/secrets/collection/login/1")
	unansweredPrompt     = dbus.ObjectPath("/org/freedesktop/secrets/prompt/p1")
)

func (unansweredKeyring) ReadAlias(string) (dbus.ObjectPath, *dbus.Error) {
	return unansweredCollection, nil
}

func (unansweredKeyring) OpenSession(string, dbus.Variant) (dbus.Variant, dbus.ObjectPath, *dbus.Error) {
	return dbus.MakeVariant(""), "/org/freedesktop/secrets/session/s1", nil
}

func (k unansweredKeyring) Unlock([]dbus.ObjectPath) ([]dbus.ObjectPath, dbus.ObjectPath, *dbus.Error) {
	k.unlocks.Add(1)
	return nil, unansweredPrompt, nil
}

// SearchItems finds the one item, locked: searching needs no unlock.
func (unansweredKeyring) SearchItems(map[string]string) ([]dbus.ObjectPath, *dbus.Error) {
	return []dbus.ObjectPath{unansweredItem}, nil
}

// GetSecret refuses: the item is locked.
func (unansweredKeyring) GetSecret(dbus.ObjectPath) (struct {
	Session     dbus.ObjectPath
	Parameters  []byte
	Value       []byte
	ContentType string
}, *dbus.Error) {
	var none struct {
		Session     dbus.ObjectPath
		Parameters  []byte
		Value       []byte
		ContentType string
	}
	return none, &dbus.Error{Name: "org.freedesktop.Secret.Error.IsLocked", Body: []any{"locked"}}
}

// Prompt shows a prompt that never completes.
func (unansweredKeyring) Prompt(string) *dbus.Error { return nil }

// TestSecretServiceUnansweredPrompt checks that a locked collection opens
// without a prompt (a probe, such as doctor's, prompts for nothing) and that
// the first read asks to unlock it and fails at the deadline with the reason
// when nobody answers.
func TestSecretServiceUnansweredPrompt(t *testing.T) {
	bus := testenv.SessionBus(t)
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	k := unansweredKeyring{unlocks: new(atomic.Int32)}
	conn.Export(k, "/org/freedesktop/secrets", "org.freedesktop.Secret.Service")
	conn.Export(k, unansweredCollection, "org.freedesktop.Secret.Collection")
	conn.Export(k, unansweredItem, "org.freedesktop.Secret.Item")
	conn.Export(k, unansweredPrompt, "org.freedesktop.Secret.Prompt")
	if _, err := conn.RequestName("org.freedesktop.secrets", dbus.NameFlagDoNotQueue); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := store.Probe(ctx, "secret-service", store.Options{SessionBus: bus}); err != nil {
		t.Fatalf("Probe of a locked collection: %v", err)
	}
	b, err := store.Open(ctx, "secret-service", store.Options{SessionBus: bus})
	if err != nil {
		t.Fatalf("Open of a locked collection: %v", err)
	}
	defer b.(io.Closer).Close()
	if n := k.unlocks.Load(); n != 0 {
		t.Fatalf("probing and opening asked for %d unlocks; want none", n)
	}
	start := time.Now()
	_, err = b.Get(ctx, "k")
	wantBusUnavailable(t, err, time.Since(start), 1100*time.Millisecond, "is locked (nobody answered its password prompt in time)")
	if n := k.unlocks.Load(); n != 1 {
		t.Errorf("the read asked for %d unlocks; want 1", n)
	}
}
