package store_test

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
	"github.com/activeloopai/activeloop-credential-helper/store"
	"github.com/activeloopai/activeloop-credential-helper/store/storetest"
	"github.com/godbus/dbus/v5"
)

// kwalletTest is the kwallet backend on a test's private kwalletd, able to
// write entries as another application would.
type kwalletTest struct {
	store.Backend
	bus string
}

// AddForeignItem writes a password in another application's folder, under
// the same name in the wallet's shared folder too.
func (k kwalletTest) AddForeignItem(t *testing.T, name string, data []byte) {
	t.Helper()
	handle := kwOpen(t, k.bus, "other-app")
	for _, folder := range []string{"other-app", "Passwords"} {
		kwCall(t, k.bus, "createFolder", handle, folder, "other-app")
		var rc int32
		kwCall(t, k.bus, "writePassword", handle, folder, name, string(data), "other-app").Store(&rc)
		if rc != 0 {
			t.Fatalf("writePassword in %s: %d", folder, rc)
		}
	}
}

// kwCall calls kwalletd on bus as another client would.
func kwCall(t testing.TB, bus, method string, args ...any) *dbus.Call {
	t.Helper()
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := conn.Object("org.kde.kwalletd5", "/modules/kwalletd5").CallWithContext(ctx, "org.kde.KWallet."+method, dbus.FlagNoAutoStart, args...)
	if c.Err != nil {
		t.Fatalf("%s: %v", method, c.Err)
	}
	return c
}

// kwOpen opens the test wallet for appid with the plain open, which leaves
// the handle valid after the connection that asked for it closes.
func kwOpen(t testing.TB, bus, appid string) int32 {
	t.Helper()
	var handle int32
	kwCall(t, bus, "open", testenv.KWalletName, int64(0), appid).Store(&handle)
	if handle < 0 {
		t.Fatalf("open: %d", handle)
	}
	return handle
}

func kwallet(t testing.TB, bus string) store.Backend {
	return openOnBus(t, "kwallet", store.Options{SessionBus: bus})
}

// TestKWalletBehaviour runs the suite twice: as in a desktop session, where
// the helper finds the wallet as KDE's client library does, and with XDG
// directories other than kwalletd's, where it asks kwalletd.
func TestKWalletBehaviour(t *testing.T) {
	bus, xdg := testenv.KWalletXDG(t)
	t.Run("desktop", func(t *testing.T) {
		setEnv(t, xdg)
		storetest.Run(t, func(t *testing.T) store.Backend {
			return kwalletTest{kwallet(t, bus), bus}
		})
	})
	t.Run("asking", func(t *testing.T) {
		setEnv(t, []string{"XDG_CONFIG_HOME=" + t.TempDir(), "XDG_DATA_HOME=" + t.TempDir()})
		storetest.Run(t, func(t *testing.T) store.Backend {
			return kwalletTest{kwallet(t, bus), bus}
		})
	})
}

func setEnv(t testing.TB, env []string) {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// TestKWalletFindsWalletAsKDEDoes checks that in a desktop session the helper
// asks kwalletd neither which wallet is the network wallet nor whether it
// exists: the round trip costs a fifth of a request. Elsewhere it asks.
func TestKWalletFindsWalletAsKDEDoes(t *testing.T) {
	bus, xdg := testenv.KWalletXDG(t)
	use := func() {
		b := kwallet(t, bus)
		if err := b.Set(context.Background(), "k", []byte("v"), "k"); err != nil {
			t.Fatal(err)
		}
		b.(io.Closer).Close()
	}
	setEnv(t, xdg)
	calls := kwalletCalls(t, bus, use)
	if !slices.Contains(calls, "openAsync") {
		t.Fatalf("calls seen: %q; the monitor missed openAsync", calls)
	}
	if slices.Contains(calls, "wallets") || slices.Contains(calls, "networkWallet") {
		t.Errorf("in a desktop session the helper called %q", calls)
	}

	setEnv(t, []string{"XDG_DATA_HOME=" + t.TempDir()})
	calls = kwalletCalls(t, bus, use)
	if !slices.Contains(calls, "wallets") || !slices.Contains(calls, "networkWallet") {
		t.Errorf("with no wallet file in sight the helper called %q; want wallets and networkWallet", calls)
	}
}

// kwalletCalls returns the org.kde.KWallet methods called on bus while fn
// runs, seen by a bus monitor.
func kwalletCalls(t *testing.T, bus string, fn func()) []string {
	t.Helper()
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rule := "type='method_call',interface='org.kde.KWallet'"
	if err := conn.BusObject().Call("org.freedesktop.DBus.Monitoring.BecomeMonitor", 0, []string{rule}, uint32(0)).Err; err != nil {
		t.Fatal(err)
	}
	ch := make(chan *dbus.Message, 256)
	conn.Eavesdrop(ch)
	fn()
	// A call with a marker argument shows the monitor has seen all before it.
	const marker = "end-of-calls"
	kwCall(t, bus, "isOpen", marker)
	var calls []string
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-ch:
			member, _ := m.Headers[dbus.FieldMember].Value().(string)
			if member == "isOpen" && len(m.Body) == 1 && m.Body[0] == marker {
				return calls
			}
			calls = append(calls, member)
		case <-timeout:
			t.Fatalf("the monitor did not see the marker; saw %q", calls)
		}
	}
}

// TestKWalletFolders checks that items go to the configured folder, as
// passwords in our encoding, and that an entry another application put
// there is an error rather than data.
func TestKWalletFolders(t *testing.T) {
	bus := testenv.KWallet(t)
	b := openOnBus(t, "kwallet", store.Options{SessionBus: bus, KWalletWallet: testenv.KWalletName, KWalletFolder: "elsewhere"})
	ctx := context.Background()
	if err := b.Set(ctx, "k", []byte("v\x00\xff"), "label"); err != nil {
		t.Fatal(err)
	}
	handle := kwOpen(t, bus, "other-app")
	var s string
	kwCall(t, bus, "readPassword", handle, "elsewhere", "k", "other-app").Store(&s)
	if want := "base64:dgD/"; s != want {
		t.Errorf("stored %q, want %q", s, want)
	}

	kwCall(t, bus, "writePassword", handle, "elsewhere", "plain", "not ours", "other-app")
	_, err := b.Get(ctx, "plain")
	if err == nil || !strings.Contains(err.Error(), "not written by this helper") || strings.Contains(err.Error(), "not ours") {
		t.Errorf("Get of an entry in another format: %v", err)
	}
}

// TestKWalletClosed checks that a closed wallet, which kwalletd would ask the
// password of in a dialog nobody can see here, is an error at the deadline
// that says what to do, never a hang.
func TestKWalletClosed(t *testing.T) {
	bus, xdg := testenv.KWalletXDG(t)
	kwCall(t, bus, "close", testenv.KWalletName, true)
	took, err := openOnBusWithin("kwallet", store.Options{SessionBus: bus}, 2*time.Second)
	wantBusUnavailable(t, err, took, 2500*time.Millisecond, "asking for its password")
	setEnv(t, xdg) // the wallet found without asking kwalletd
	took, err = openOnBusWithin("kwallet", store.Options{SessionBus: bus}, 2*time.Second)
	wantBusUnavailable(t, err, took, 2500*time.Millisecond, "asking for its password")
}

// TestKWalletProbeAsksNobody checks that a probe, such as doctor's, of a
// closed wallet neither waits nor makes kwalletd show its password dialog:
// it never asks to open the wallet.
func TestKWalletProbeAsksNobody(t *testing.T) {
	bus, xdg := testenv.KWalletXDG(t)
	kwCall(t, bus, "close", testenv.KWalletName, true)
	for _, env := range [][]string{xdg, {"XDG_DATA_HOME=" + t.TempDir()}} {
		setEnv(t, env)
		calls := kwalletCalls(t, bus, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			if err := store.Probe(ctx, "kwallet", store.Options{SessionBus: bus}); err != nil {
				t.Errorf("Probe of a closed wallet: %v", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("Probe took %s", took)
			}
		})
		if slices.Contains(calls, "openAsync") || slices.Contains(calls, "open") {
			t.Errorf("the probe called %q", calls)
		}
	}
}

// TestKWalletClosedWhileOpen checks that a wallet closed under an open
// backend is an error, not an empty store.
func TestKWalletClosedWhileOpen(t *testing.T) {
	bus := testenv.KWallet(t)
	b := kwallet(t, bus)
	ctx := context.Background()
	if err := b.Set(ctx, "k", []byte("v"), "k"); err != nil {
		t.Fatal(err)
	}
	kwCall(t, bus, "close", testenv.KWalletName, true)
	start := time.Now()
	_, err := b.Get(ctx, "k")
	wantBusUnavailable(t, err, time.Since(start), time.Second, "was closed")
	_, err = b.Keys(ctx)
	wantBusUnavailable(t, err, time.Since(start), time.Second, "was closed")
}

func TestKWalletMissingWallet(t *testing.T) {
	bus := testenv.KWallet(t)
	took, err := openOnBusWithin("kwallet", store.Options{SessionBus: bus, KWalletWallet: "nonesuch"}, 2*time.Second)
	wantBusUnavailable(t, err, took, time.Second, `no wallet named "nonesuch"`)
}

func TestKWalletNotRunning(t *testing.T) {
	bus := testenv.SessionBus(t)
	took, err := openOnBusWithin("kwallet", store.Options{SessionBus: bus}, 2*time.Second)
	wantBusUnavailable(t, err, took, time.Second, "kwalletd5 is not running")
}

func TestKWalletUnresponsiveOwner(t *testing.T) {
	bus := testenv.SessionBus(t)
	testenv.Unresponsive(t, bus, "org.kde.kwalletd5")
	took, err := openOnBusWithin("kwallet", store.Options{SessionBus: bus}, time.Second)
	wantBusUnavailable(t, err, took, 1500*time.Millisecond, "in time")
	if took < time.Second {
		t.Errorf("gave up after %s, before the deadline", took)
	}
}

func BenchmarkKWalletGet(b *testing.B) {
	bus := testenv.KWallet(b)
	k := kwallet(b, bus)
	ctx := context.Background()
	data := bytes.Repeat([]byte("x"), 300) // about the size of a record
	if err := k.Set(ctx, "bench", data, "bench"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := k.Get(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKWalletOpenGet is what one run of the helper spends in the store:
// connect, find and open the wallet, read; as in a desktop session.
func BenchmarkKWalletOpenGet(b *testing.B) {
	bus, xdg := testenv.KWalletXDG(b)
	setEnv(b, xdg)
	if err := kwallet(b, bus).Set(context.Background(), "bench", []byte("x"), "bench"); err != nil {
		b.Fatal(err)
	}
	benchOpenGet(b, "kwallet", store.Options{SessionBus: bus})
}
