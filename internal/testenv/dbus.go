//go:build linux

package testenv

import (
	"bufio"
	"context"
	"crypto/sha512"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
	"github.com/godbus/dbus/v5"
)

// startTimeout bounds how long a daemon may take to become ready.
const startTimeout = 15 * time.Second

// KeyringPassword is the password of the login keyring that SecretService
// creates and unlocks. It protects nothing: the keyring lives in a temporary
// directory.
const KeyringPassword = "test-keyring-password"

// KWalletName is the wallet KWallet creates and opens.
const KWalletName = "kdewallet"

// busConfig is a session bus with no service directories, unless a test
// asks for some: nothing on it is ever D-Bus-activated. A test that reaches a
// daemon it did not start fails instead of starting a second gnome-keyring
// (with the login keyring locked) or a prompter that outlives the test.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>%s
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// SessionBus starts a private, empty D-Bus session bus and returns its
// address. It is stopped when the test ends.
func SessionBus(t testing.TB) string {
	_, bus := sessionBus(t)
	return bus
}

// SecretService starts a private session bus with gnome-keyring-daemon on it,
// its login keyring created and unlocked with KeyringPassword, and returns the
// bus address. Both are stopped when the test ends.
func SecretService(t testing.TB) string {
	requireProgram(t, "gnome-keyring-daemon", "gnome-keyring")
	requireProgram(t, "secret-tool", "libsecret-tools") // tests write other applications' items with it
	state, bus := sessionBus(t)
	startKeyring(t, state, bus)
	return bus
}

// startKeyring starts gnome-keyring-daemon on bus with its data in state,
// unlocking the login keyring with KeyringPassword (creating it the first
// time), and waits until it serves the default collection.
func startKeyring(t testing.TB, state, bus string) {
	t.Helper()
	cmd := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	cmd.Env = childEnv(state, bus)
	cmd.Stdin = strings.NewReader(KeyringPassword)
	d := startDaemon(t, cmd, state, "gnome-keyring-daemon")

	conn := connectBus(t, bus)
	// Only the --unlock that starts the daemon unlocks the login keyring: wait
	// for it to own the name, so that no client activates a second one.
	d.waitFor(t, func(ctx context.Context) (bool, error) {
		if ok, err := hasOwner(ctx, conn, "org.freedesktop.secrets"); !ok || err != nil {
			return false, err
		}
		var coll dbus.ObjectPath
		err := conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets").
			CallWithContext(ctx, "org.freedesktop.Secret.Service.ReadAlias", dbus.FlagNoAutoStart, "default").Store(&coll)
		return err == nil && coll != "/", err
	})
}

// KWallet starts a private session bus with kwalletd5 on it, its wallet
// KWalletName created and opened the way pam_kwallet opens it at login, and
// returns the bus address. Both are stopped when the test ends.
func KWallet(t testing.TB) string {
	bus, _ := KWalletXDG(t)
	return bus
}

// KWalletXDG is KWallet, also returning kwalletd's XDG_CONFIG_HOME and
// XDG_DATA_HOME (which hold kwalletrc and the wallet) as environment
// settings: a client with them sees the wallet as a desktop session would.
func KWalletXDG(t testing.TB) (bus string, xdg []string) {
	requireProgram(t, "kwalletd5", "libkf5wallet-bin")
	state, bus := sessionBus(t)
	// No first-use wizard, this helper allowed without asking, and no Secret
	// Service API, which is gnome-keyring's job in these tests.
	rc := "[Wallet]\nFirst Use=false\nEnabled=true\nDefault Wallet=" + KWalletName + "\n\n" +
		"[Auto Allow]\n" + KWalletName + "=" + store.Namespace + "\n\n" +
		"[org.freedesktop.secrets]\napiEnabled=false\n"
	if err := os.WriteFile(filepath.Join(state, "config", "kwalletrc"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	// kwalletd5 started by D-Bus activation aborts without a display; started
	// here it shows its dialogs nowhere.
	cmd := exec.Command("kwalletd5")
	cmd.Env = childEnv(state, bus, "QT_QPA_PLATFORM=offscreen")
	d := startDaemon(t, cmd, state, "kwalletd5")

	conn := connectBus(t, bus)
	d.waitFor(t, func(ctx context.Context) (bool, error) {
		return hasOwner(ctx, conn, "org.kde.kwalletd5")
	})
	// pamOpen creates the wallet and opens it with a pre-hashed password and
	// no dialog. Any 56 bytes will do as the hash of a throwaway password.
	sum := sha512.Sum512([]byte(KeyringPassword))
	kwd := conn.Object("org.kde.kwalletd5", "/modules/kwalletd5")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := kwd.CallWithContext(ctx, "org.kde.KWallet.pamOpen", dbus.FlagNoAutoStart, KWalletName, sum[:56], int32(0)).Err; err != nil {
		t.Fatalf("kwalletd5 pamOpen: %v%s", err, d.output())
	}
	d.waitFor(t, func(ctx context.Context) (bool, error) {
		var open bool
		err := kwd.CallWithContext(ctx, "org.kde.KWallet.isOpen", dbus.FlagNoAutoStart, KWalletName).Store(&open)
		return open, err
	})
	return bus, []string{
		"XDG_CONFIG_HOME=" + filepath.Join(state, "config"),
		"XDG_DATA_HOME=" + filepath.Join(state, "data"),
	}
}

// Unresponsive claims name on bus and never answers a call made to it, like
// a daemon that hangs.
func Unresponsive(t testing.TB, bus, name string) {
	conn := connectBus(t, bus)
	reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("claiming %s: reply %v, %v", name, reply, err)
	}
	// An eavesdropping connection hands every message to the channel (and
	// drops what does not fit) instead of answering it.
	conn.Eavesdrop(make(chan *dbus.Message, 1))
}

// Env returns the environment of this process with bus as the session bus,
// for clients run by a test, such as secret-tool.
func Env(bus string) []string {
	return append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+bus)
}

// sessionBus starts a dbus-daemon in a new state directory and returns both.
func sessionBus(t testing.TB) (state, bus string) {
	t.Helper()
	return startSessionBus(t, "")
}

// ActivatingSessionBus is SessionBus with the given names D-Bus-activatable:
// activating one starts nothing but records the name. activated returns the
// names activated so far.
func ActivatingSessionBus(t testing.TB, names ...string) (bus string, activated func() []string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "alsvc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	log := filepath.Join(dir, "activated")
	for _, name := range names {
		script := filepath.Join(dir, name+".sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho "+name+" >> "+log+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		svc := "[D-BUS Service]\nName=" + name + "\nExec=" + script + "\n"
		if err := os.WriteFile(filepath.Join(dir, name+".service"), []byte(svc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, bus = startSessionBus(t, "\n  <servicedir>"+dir+"</servicedir>")
	return bus, func() []string {
		b, _ := os.ReadFile(log)
		return strings.Fields(string(b))
	}
}

// startSessionBus starts a dbus-daemon with extra configuration.
func startSessionBus(t testing.TB, extra string) (state, bus string) {
	t.Helper()
	requireProgram(t, "dbus-daemon", "dbus-daemon")
	// Not t.TempDir: a unix socket path must fit in 108 bytes, and test names
	// go into t.TempDir's.
	state, err := os.MkdirTemp("", "al")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	for _, dir := range []string{"run", "data", "config", "cache", "home"} {
		if err := os.Mkdir(filepath.Join(state, dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(state, "bus.conf")
	sock := filepath.Join(state, "bus")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, sock, extra), 0o600); err != nil {
		t.Fatal(err)
	}
	// In the foreground, as our child: stopped by its PID and waited for.
	// It prints its address on fd 3 once it listens.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nosyslog", "--print-address=3")
	cmd.ExtraFiles = []*os.File{w}
	d := startDaemon(t, cmd, state, "dbus-daemon")
	w.Close()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case bus = <-line:
	case <-time.After(startTimeout):
	}
	if bus == "" {
		t.Fatalf("dbus-daemon did not start%s", d.output())
	}
	return state, bus
}

// childEnv is this process's environment with every session setting
// replaced by the private one in state, so that a daemon under test never
// touches the user's keyrings, bus or display.
func childEnv(state, bus string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "XDG_"), strings.HasPrefix(name, "DBUS_"),
			strings.HasPrefix(name, "GNOME_KEYRING_"), strings.HasPrefix(name, "KDE_"),
			name == "HOME", name == "DISPLAY", name == "WAYLAND_DISPLAY":
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"DBUS_SESSION_BUS_ADDRESS="+bus,
		"HOME="+filepath.Join(state, "home"),
		"XDG_RUNTIME_DIR="+filepath.Join(state, "run"),
		"XDG_DATA_HOME="+filepath.Join(state, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(state, "config"),
		"XDG_CACHE_HOME="+filepath.Join(state, "cache"),
	)
	return append(env, extra...)
}

// daemon is a process started by a test.
type daemon struct {
	name string
	log  string
	done chan struct{} // closed when the process has exited
	exit error         // how it exited, once done is closed
}

// startDaemon starts cmd, its output going to a log in state, and stops it
// by PID when the test ends.
func startDaemon(t testing.TB, cmd *exec.Cmd, state, name string) *daemon {
	t.Helper()
	d := &daemon{name: name, log: filepath.Join(state, name+".log"), done: make(chan struct{})}
	log, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		d.exit = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			select {
			case <-d.done:
				t.Logf("%s had exited before the test ended (%v)%s", name, d.exit, d.output())
			default:
			}
		}
		// SIGCONT too: a test may have stopped it to play a hung daemon,
		// and a stopped process does not act on SIGTERM.
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Process.Signal(syscall.SIGCONT)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// waitFor polls ready until it says yes, failing the test if the daemon
// exits or does not become ready in time.
func (d *daemon) waitFor(t testing.TB, ready func(context.Context) (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			t.Fatalf("%s exited while starting%s", d.name, d.output())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var ok bool
		ok, err = ready(ctx)
		cancel()
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not become ready within %s (last error: %v)%s", d.name, startTimeout, err, d.output())
}

func (d *daemon) output() string {
	b, err := os.ReadFile(d.log)
	if err != nil || len(b) == 0 {
		return ""
	}
	return "\n" + d.name + " output:\n" + string(b)
}

// connectBus opens a private connection to bus, closed when the test ends.
func connectBus(t testing.TB, bus string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatalf("connecting to the test bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func hasOwner(ctx context.Context, conn *dbus.Conn, name string) (bool, error) {
	var ok bool
	err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&ok)
	return ok, err
}

// OwnerPID returns the process ID of the connection that owns name on bus.
func OwnerPID(t testing.TB, bus, name string) int {
	t.Helper()
	conn := connectBus(t, bus)
	var pid uint32
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetConnectionUnixProcessID", 0, name).Store(&pid); err != nil {
		t.Fatalf("finding the owner of %s: %v", name, err)
	}
	return int(pid)
}
