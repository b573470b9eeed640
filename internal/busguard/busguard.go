// Package busguard keeps the D-Bus session bus out of reach while package
// initialisers run.
//
// github.com/99designs/keyring connects to the session bus from init() in every
// process that imports it on Linux, and with dbus-x11 installed and no bus
// running that connection autolaunches a dbus-daemon that outlives the process
// (99designs/keyring#103). A credential helper is exec'd for every request, so
// neither is acceptable. This package hides DBUS_SESSION_BUS_ADDRESS behind the
// "disabled:" transport before keyring's init runs; Restore puts it back once
// main starts, and the store's own D-Bus backends dial the saved address only
// when one of them is chosen.
//
// Ordering: since Go 1.21 packages are initialised in import-path order among
// those whose imports are done. This package imports only os, so it is ready as
// soon as os is, and its path sorts before github.com/godbus/dbus, which
// keyring imports; so it always runs first. TestBusGuardRunsFirst proves it.
package busguard

import "os"

const envName = "DBUS_SESSION_BUS_ADDRESS"

var (
	address, wasSet = os.LookupEnv(envName)
	restored        bool
)

func init() {
	if guarded {
		os.Setenv(envName, "disabled:")
	}
}

// Address returns DBUS_SESSION_BUS_ADDRESS as the process was started with.
func Address() string { return address }

// Restore puts DBUS_SESSION_BUS_ADDRESS back as it was, so that child
// processes see the environment the user gave. Call it first thing in main.
func Restore() {
	if !guarded || restored {
		return
	}
	restored = true
	if wasSet {
		os.Setenv(envName, address)
	} else {
		os.Unsetenv(envName)
	}
}
