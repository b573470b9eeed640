package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/internal/busguard"
	"github.com/godbus/dbus/v5"
)

// The secret-service and kwallet backends speak D-Bus themselves, through
// godbus, rather than through keyring: they connect only when chosen, never
// autolaunch a bus, and bound every call by the caller's deadline.

// sessionBusAddress picks the session bus: the configured one, else the one the
// process was started with (busguard hid it from package initialisers), else
// the systemd user bus socket. It never autolaunches one: a dbus-daemon
// started by a short-lived helper would outlive it (SPEC §9).
func sessionBusAddress(o Options) (string, error) {
	addr := o.SessionBus
	if addr == "" {
		addr = busguard.Address()
	}
	if addr == "" {
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
			p := filepath.Join(dir, "bus")
			if fi, err := os.Stat(p); err == nil && fi.Mode().Type() == fs.ModeSocket {
				addr = "unix:path=" + dbus.EscapeBusAddressValue(p)
			}
		}
	}
	switch {
	case addr == "":
		return "", fmt.Errorf("%w: no D-Bus session bus is running (DBUS_SESSION_BUS_ADDRESS is unset and $XDG_RUNTIME_DIR/bus does not exist); log in to a desktop session or start one with dbus-run-session", ErrUnavailable)
	case strings.HasPrefix(addr, "disabled:"):
		return "", fmt.Errorf("%w: no D-Bus session bus is running (its address is %q); log in to a desktop session or start one with dbus-run-session", ErrUnavailable, addr)
	case strings.HasPrefix(addr, "autolaunch:"):
		return "", fmt.Errorf("%w: the D-Bus session bus address %q asks for autolaunch, which this helper never does; start a session bus with dbus-run-session", ErrUnavailable, addr)
	}
	return addr, nil
}

// dialSessionBus opens a private connection to the session bus. Connecting is
// bounded by ctx, but the connection outlives it: the backend keeps it for
// its later calls, each under its own deadline.
func dialSessionBus(ctx context.Context, o Options) (*dbus.Conn, error) {
	addr, err := sessionBusAddress(o)
	if err != nil {
		return nil, err
	}
	conn, err := dialPipelined(ctx, addr)
	switch {
	case err == nil:
		return conn, nil
	case !errors.Is(err, errSlowPath):
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: the D-Bus session bus at %s did not answer in time", ErrUnavailable, addr)
		}
		return nil, fmt.Errorf("%w: cannot connect to the D-Bus session bus at %s: %w", ErrUnavailable, addr, err)
	}
	conn, err = dbus.Dial(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot connect to the D-Bus session bus at %s: %w", ErrUnavailable, addr, err)
	}
	// Auth and Hello take no context; closing the connection is what
	// interrupts a bus that accepted the socket but never answers.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err = conn.Auth(nil)
	if err == nil {
		err = conn.Hello()
	}
	if !stop() {
		conn.Close()
		return nil, fmt.Errorf("%w: the D-Bus session bus at %s did not answer in time", ErrUnavailable, addr)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: cannot connect to the D-Bus session bus at %s: %w", ErrUnavailable, addr, err)
	}
	return conn, nil
}

// beforeDeadline ends a little before ctx's deadline, so that a wait for a
// password prompt ends with this package's explanation of what to unlock,
// not with the caller's generic timeout racing it.
func beforeDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := min(time.Until(d)/20, 100*time.Millisecond)
	return context.WithDeadline(ctx, d.Add(-margin))
}

// withDeadline bounds ctx by DefaultTimeout unless it already has a deadline,
// so that an opener called without one still cannot wait forever on a
// keyring that shows a password prompt.
func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// call makes a method call that never D-Bus-activates its destination: an
// activated gnome-keyring would be a second, locked daemon, and an activated
// kwalletd aborts without a display.
func call(ctx context.Context, obj dbus.BusObject, method string, args ...any) *dbus.Call {
	return obj.CallWithContext(ctx, method, dbus.FlagNoAutoStart, args...)
}

// notRunningError is busError, saying plainly when the service is not
// running: calls carry NoAutoStart, so such a service is not started but
// answered for by the bus with ServiceUnknown.
func notRunningError(ctx context.Context, what string, err error, notRunning string) error {
	var de dbus.Error
	if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
		return fmt.Errorf("%w: %s", ErrUnavailable, notRunning)
	}
	return busError(ctx, what, err)
}

// busError describes a failed call. Failures to reach the service (no answer
// before the deadline, the service or the bus gone) wrap ErrUnavailable; an
// error reply from a running service does not.
func busError(ctx context.Context, what string, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err // already explained, e.g. by a prompt that timed out
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: no answer in time", ErrUnavailable, what)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	var de dbus.Error
	if !errors.As(err, &de) {
		// Not a reply at all: the connection broke.
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
	}
	switch de.Name {
	case "org.freedesktop.DBus.Error.ServiceUnknown",
		"org.freedesktop.DBus.Error.NameHasNoOwner",
		"org.freedesktop.DBus.Error.NoReply",
		"org.freedesktop.DBus.Error.Timeout",
		"org.freedesktop.DBus.Error.Disconnected":
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
	}
	if de.Error() == de.Name {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %s: %w", what, de.Name, err)
}
