//go:build linux

package main

import (
	"context"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// What the fault tests do to the stores on the session bus, as another
// client would.

// busObject calls one object of name on bus over a connection of its own.
func busCall(t *testing.T, conn *dbus.Conn, name string, path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := conn.Object(name, path).CallWithContext(ctx, method, dbus.FlagNoAutoStart, args...)
	if c.Err != nil {
		t.Fatalf("%s: %v", method, c.Err)
	}
	return c
}

func dialBus(t *testing.T, bus string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

const ssRoot = dbus.ObjectPath("/org/freedesktop/secrets")

// lockCollection locks the default collection of the Secret Service on bus,
// as a screen locker does, and returns its path.
func lockCollection(t *testing.T, bus string) dbus.ObjectPath {
	t.Helper()
	conn := dialBus(t, bus)
	var coll dbus.ObjectPath
	busCall(t, conn, "org.freedesktop.secrets", ssRoot, "org.freedesktop.Secret.Service.ReadAlias", "default").Store(&coll)
	busCall(t, conn, "org.freedesktop.secrets", ssRoot, "org.freedesktop.Secret.Service.Lock", []dbus.ObjectPath{coll})
	return coll
}

// unlockCollection unlocks coll with its password through gnome-keyring's
// own interface, the one its login integration uses: the Secret Service's
// Unlock needs a prompt, and there is no display.
func unlockCollection(t *testing.T, bus string, coll dbus.ObjectPath) {
	t.Helper()
	conn := dialBus(t, bus)
	var (
		out     dbus.Variant
		session dbus.ObjectPath
	)
	busCall(t, conn, "org.freedesktop.secrets", ssRoot, "org.freedesktop.Secret.Service.OpenSession", "plain", dbus.MakeVariant("")).Store(&out, &session)
	secret := struct {
		Session     dbus.ObjectPath
		Parameters  []byte
		Value       []byte
		ContentType string
	}{session, []byte{}, []byte(testenv.KeyringPassword), "text/plain"}
	busCall(t, conn, "org.freedesktop.secrets", ssRoot, "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface.UnlockWithMasterPassword", coll, secret)
}

// kwalletClose closes the test wallet for every client, as kwalletmanager5
// or a screen locker does.
func kwalletClose(t *testing.T, bus string) {
	t.Helper()
	busCall(t, dialBus(t, bus), "org.kde.kwalletd5", "/modules/kwalletd5", "org.kde.KWallet.close", testenv.KWalletName, true)
}
