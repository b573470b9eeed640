package main

import (
	"fmt"
	"os"

	// The D-Bus library of github.com/99designs/keyring, at the version it
	// uses.
	"github.com/godbus/dbus"

	"github.com/activeloopai/activeloop-credential-helper/internal/busguard"
)

// busProbeName is a command of the test binary (see TestMain).
const busProbeName = "activeloop-bus-probe"

// busProbe does what 99designs/keyring's kwallet init does, dbus.SessionBus(),
// with the environment the process was started with: what the helper would
// do if internal/busguard did not run first. It shows that the bus tests see
// a process that connects to the session bus or autolaunches one.
func busProbe() {
	busguard.Restore()
	conn, err := dbus.SessionBus()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", busProbeName, err)
		os.Exit(1)
	}
	conn.Close()
	os.Exit(0)
}
