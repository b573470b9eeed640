//go:build linux

package testenv

import "testing"

// RestartableSecretService is SecretService, with a function that starts
// gnome-keyring-daemon again on the same bus and the same keyring files, for
// tests that kill the daemon and check what survives it. restart waits for
// the old daemon's name to be free: call it after the old one has exited.
func RestartableSecretService(t testing.TB) (bus string, restart func(testing.TB)) {
	requireProgram(t, "gnome-keyring-daemon", "gnome-keyring")
	requireProgram(t, "secret-tool", "libsecret-tools")
	state, bus := sessionBus(t)
	startKeyring(t, state, bus)
	return bus, func(t testing.TB) {
		t.Helper()
		startKeyring(t, state, bus)
	}
}
