//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// A helper that does not use a D-Bus backend must not touch the session bus,
// let alone start a dbus-daemon (SPEC §9): it is exec'd for every git and
// docker request. 99designs/keyring, which the binary links, connects to the
// session bus from a package initialiser; internal/busguard keeps it from
// doing so. These tests watch the bus from outside the process.

// TestSessionBusNotTouched runs store, get, list and erase on pass and keyctl
// under both names, with the session bus address pointing at a socket the
// test listens on: no process may connect. With the secret-service backend
// the helper does connect, which shows that the test sees connections.
func TestSessionBusNotTouched(t *testing.T) {
	bin := builtHelper(t)
	bus := listenBus(t)
	env := busTestEnv(t, "DBUS_SESSION_BUS_ADDRESS="+bus.address)

	for _, backend := range []string{"pass", "keyctl"} {
		req := []struct{ verb, stdin, want string }{
			{"store", `{"ServerURL":"https://app.activeloop.ai","Username":"alice","Secret":"bus-secret"}`, ""},
			{"get", "https://app.activeloop.ai", `{"ServerURL":"https://app.activeloop.ai","Username":"alice","Secret":"bus-secret"}` + "\n"},
			{"list", "", `{"https://app.activeloop.ai":"alice"}` + "\n"},
			{"erase", "https://app.activeloop.ai", ""},
			{"list", "", "{}\n"},
		}
		for _, r := range req {
			// The main name with its flag, the docker name with the
			// variable, as docker runs it.
			res := runBinary(t, filepath.Join(bin, mainName), env, r.stdin, "--backend", backend, r.verb)
			res.wantSuccess(t, r.want)
			res = runBinary(t, filepath.Join(bin, dockerName), append(env, "ACTIVELOOP_CREDENTIAL_BACKEND="+backend), r.stdin, r.verb)
			res.wantSuccess(t, r.want)
		}
	}
	if n := bus.connections(t); len(n) > 0 {
		t.Errorf("helpers on pass and keyctl connected to the session bus: %v", n)
	}

	// The control: the secret-service backend dials the bus (which hangs up
	// on it: no D-Bus server here).
	res := runBinary(t, filepath.Join(bin, mainName), env, "", "--backend", "secret-service", "--timeout", "5s", "list")
	if res.code != 1 || !strings.Contains(res.stdout, "D-Bus session bus") {
		t.Errorf("secret-service with a bus that hangs up: %v; want exit 1 and an error about the session bus", res)
	}
	if n := bus.connections(t); len(n) == 0 {
		t.Errorf("the secret-service backend made no connection the test could see: the test cannot see connections")
	}
}

// TestNoDBusDaemonStarted runs the helper 20 times on each of pass, keyctl
// and auto with no session bus at all: no D-Bus address and an empty
// XDG_RUNTIME_DIR, where godbus, if asked for the session bus, would run
// dbus-launch to autolaunch one. No dbus-launch may run and no new
// dbus-daemon may appear.
func TestNoDBusDaemonStarted(t *testing.T) {
	bin := builtHelper(t)
	// dbus-launch, found first on PATH, records that it ran and fails.
	fake := t.TempDir()
	launched := filepath.Join(fake, "dbus-launch.log")
	script := "#!/bin/sh\necho \"$$ $*\" >> '" + launched + "'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(fake, "dbus-launch"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// A mark in the environment of every process the test starts: a
	// dbus-daemon autolaunched by one of them inherits it.
	mark := "ACTIVELOOP_BUS_TEST=" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	env := busTestEnv(t, "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"), mark)

	before := dbusDaemons(t)

	// With no bus, auto passes over secret-service and kwallet and lands
	// on the initialised password store.
	res := runBinary(t, filepath.Join(bin, mainName), env, "", "--debug", "--backend", "auto", "list")
	if res.code != 0 || res.stdout != "{}\n" || !strings.Contains(res.stderr, "debug: backend pass: auto: pass is usable") {
		t.Errorf("auto without a session bus: %v; want pass chosen", res)
	}

	verbs := []struct{ verb, stdin string }{
		{"store", `{"ServerURL":"https://app.activeloop.ai","Username":"alice","Secret":"bus-secret"}`},
		{"get", "https://app.activeloop.ai"},
		{"list", ""},
		{"erase", "https://app.activeloop.ai"},
	}
	for _, backend := range []string{"pass", "keyctl", "auto"} {
		for i := range 20 {
			v := verbs[i%len(verbs)]
			var res runResult
			if i%2 == 0 {
				res = runBinary(t, filepath.Join(bin, mainName), env, v.stdin, "--backend", backend, v.verb)
			} else {
				res = runBinary(t, filepath.Join(bin, dockerName), append(env, "ACTIVELOOP_CREDENTIAL_BACKEND="+backend), v.stdin, v.verb)
			}
			if res.code != 0 {
				t.Fatalf("%s on %s: %v", v.verb, backend, res)
			}
		}
	}

	if b, err := os.ReadFile(launched); err == nil {
		runs := strings.Split(strings.TrimSpace(string(b)), "\n")
		t.Errorf("the helper ran dbus-launch %d times to autolaunch a session bus; PIDs and arguments, first: %q", len(runs), runs[0])
	}
	for _, pid := range newDBusDaemons(t, before) {
		if environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err == nil && bytes.Contains(environ, []byte(mark)) {
			t.Errorf("dbus-daemon %d was started by a helper process, and outlived it", pid)
		} else {
			t.Logf("dbus-daemon %d appeared during the test, started by some other program", pid)
		}
	}

	// The control: a process that asks godbus for the session bus, as
	// keyring's initialiser does, in the same environment runs the fake
	// dbus-launch.
	probe, err := exec.LookPath(busProbeName)
	if err != nil {
		t.Fatalf("the bus probe is not on PATH: %v", err)
	}
	if res := runBinary(t, probe, env, ""); res.code == 0 {
		t.Errorf("the bus probe found a session bus where there is none: %v", res)
	}
	if _, err := os.Stat(launched); err != nil {
		t.Errorf("a process asking godbus for the session bus did not run the fake dbus-launch (%v): the test cannot see autolaunch", err)
	}
}

// TestBusGuardRunsBeforeKeyringInit runs commands that open no store at all,
// on a machine where the session bus is reachable. 99designs/keyring's
// initialiser connects to it unless internal/busguard has run first; no
// connection means it has. The bus probe, which does what that initialiser
// does without the guard, connects.
func TestBusGuardRunsBeforeKeyringInit(t *testing.T) {
	bin := builtHelper(t)
	bus := listenBus(t)
	env := busTestEnv(t, "DBUS_SESSION_BUS_ADDRESS="+bus.address, "ACTIVELOOP_CREDENTIAL_BACKEND=pass")

	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{dockerName, []string{"version"}, 0},
		{dockerName, []string{"--version"}, 0},
		{dockerName, []string{"--help"}, 0},
		{dockerName, nil, 1},
		{dockerName, []string{"frobnicate"}, 1},
		{mainName, []string{"version"}, 0},
		{mainName, []string{"--version"}, 0},
		{mainName, []string{"--help"}, 0},
		{mainName, []string{"frobnicate"}, 2},
	} {
		if res := runBinary(t, filepath.Join(bin, c.name), env, "", c.args...); res.code != c.code {
			t.Errorf("%v; want exit status %d", res, c.code)
		}
	}
	if n := bus.connections(t); len(n) > 0 {
		t.Errorf("the helper connected to the session bus while starting: %v", n)
	}

	probe, err := exec.LookPath(busProbeName)
	if err != nil {
		t.Fatalf("the bus probe is not on PATH: %v", err)
	}
	runBinary(t, probe, env, "")
	if n := bus.connections(t); len(n) == 0 {
		t.Errorf("the bus probe made no connection the test could see: the test cannot see connections")
	}
}

// busTestEnv is the environment of the helper in the bus tests: a real
// password store and the kernel keyring, both set up for the test, no bus
// unless extra gives one, and no other setting from this process.
func busTestEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	opts := testenv.Pass(t)
	kopts := testenv.Keyctl(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"XDG_RUNTIME_DIR=" + t.TempDir(),
		"GNUPGHOME=" + os.Getenv("GNUPGHOME"),
		"PASSWORD_STORE_DIR=" + opts.PassDir,
		"ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE=" + kopts.KeyctlScope,
		"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + emptyConfig(t),
	}
	return append(env, extra...)
}

// busListener is a unix socket standing in for the session bus. It accepts
// every connection and hangs up at once.
type busListener struct {
	address string
	ln      *net.UnixListener

	mu    sync.Mutex
	peers []int32 // process IDs of the connections accepted, in order
	seen  chan struct{}
}

func listenBus(t *testing.T) *busListener {
	t.Helper()
	// Not t.TempDir: a socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "bus")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "bus")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	b := &busListener{address: "unix:path=" + path, ln: ln, seen: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			pid := peerPID(c)
			c.Close()
			b.mu.Lock()
			b.peers = append(b.peers, pid)
			b.mu.Unlock()
			select {
			case b.seen <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return b
}

// connections returns, and forgets, the process IDs of the connections made
// so far by processes other than the test. It connects itself and waits for
// that connection: the listener accepts in order, so every connection made
// before has been counted.
func (b *busListener) connections(t *testing.T) []int32 {
	t.Helper()
	c, err := net.Dial("unix", strings.TrimPrefix(b.address, "unix:path="))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	self := int32(os.Getpid())
	deadline := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		for i, pid := range b.peers {
			if pid == self {
				var others []int32
				for _, p := range b.peers[:i] {
					if p != self {
						others = append(others, p)
					}
				}
				b.peers = b.peers[i+1:]
				b.mu.Unlock()
				return others
			}
		}
		b.mu.Unlock()
		select {
		case <-b.seen:
		case <-deadline:
			t.Fatal("the bus listener did not accept the test's own connection")
		}
	}
}

// peerPID returns the process ID of the other end of c, or -1.
func peerPID(c *net.UnixConn) int32 {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1
	}
	pid := int32(-1)
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = cred.Pid
		}
	})
	return pid
}

// dbusDaemons returns the process IDs of the running dbus-daemons.
func dbusDaemons(t *testing.T) map[int]bool {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	pids := map[int]bool{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == "dbus-daemon" {
			pids[pid] = true
		}
	}
	return pids
}

// newDBusDaemons returns the dbus-daemons running now that were not running
// before.
func newDBusDaemons(t *testing.T, before map[int]bool) []int {
	t.Helper()
	var pids []int
	for pid := range dbusDaemons(t) {
		if !before[pid] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// runResult is what one run of a program did.
type runResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r runResult) String() string {
	return fmt.Sprintf("%s: exit status %d\nstdout: %q\nstderr: %q", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// wantSuccess checks that the run exited 0 with want on stdout and nothing on
// stderr.
func (r runResult) wantSuccess(t *testing.T, want string) {
	t.Helper()
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("%v\nwant exit status 0, stdout %q, nothing on stderr", r, want)
	}
}

// runBinary runs path with args, stdin and exactly the environment env, and
// stops it by its PID if it runs for more than a minute.
func runBinary(t *testing.T, path string, env []string, stdin string, args ...string) runResult {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	res := runResult{args: append([]string{filepath.Base(path)}, args...), stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("%s: %v", path, err)
	}
	return res
}
