//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
	"github.com/activeloopai/activeloop-credential-helper/store"
)

// The load and fault suite: the built binary, as docker runs it, against
// every real secure store on Linux (the file backend's own suite is in
// file_backend_test.go). The load tests store 200 servers at once, then read
// them back with many processes at a time; the fault tests kill, stop, lock
// or revoke the store while processes use it, and check that each process
// ends with a clear error within its deadline and that every entry stored
// before the fault reads back exactly once the store is back.
//
// The helper is built without -race (builtHelper), so its processes never
// sleep at exit for race reports.

const (
	loadServers  = 200 // stored at once
	loadParallel = 32  // get processes at a time
	// childDeadline stops any helper process that runs this long: a hang,
	// which the tests report as such.
	childDeadline = 15 * time.Second
	// faultTimeout is the helper's deadline for each store call in the
	// fault tests, and faultSlack what a process may take beyond it.
	faultTimeout = 2 * time.Second
	faultSlack   = time.Second
)

// helperEnv is the environment of the helper processes of one test.
type helperEnv struct {
	t        *testing.T
	bin      string
	env      []string
	deadline time.Duration // stops a process; 0 means childDeadline
}

// newHelperEnv selects backend, with no config file of the user's, a home of
// its own, and extra settings.
func newHelperEnv(t *testing.T, backend string, extra ...string) *helperEnv {
	t.Helper()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"LANG=C.UTF-8",
		"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + emptyConfig(t),
		"ACTIVELOOP_CREDENTIAL_BACKEND=" + backend,
	}
	return &helperEnv{t: t, bin: builtHelper(t), env: append(env, extra...)}
}

// passEnv is a password store of the test's own, for newHelperEnv.
func passEnv(t *testing.T) []string {
	opts := testenv.Pass(t)
	return []string{
		"GNUPGHOME=" + os.Getenv("GNUPGHOME"),
		"PASSWORD_STORE_DIR=" + opts.PassDir,
		"ACTIVELOOP_CREDENTIAL_PASS_DIR=" + opts.PassDir,
		"DBUS_SESSION_BUS_ADDRESS=disabled:",
	}
}

// with returns the environment with name=value added.
func (h *helperEnv) with(kv ...string) *helperEnv {
	return &helperEnv{t: h.t, bin: h.bin, env: append(slices.Clip(h.env), kv...), deadline: h.deadline}
}

// timedResult is one helper process: what it did and how long it took.
type timedResult struct {
	runResult
	took time.Duration
	hung bool // stopped at childDeadline
}

// run runs docker-credential-activeloop with args in a session of its own
// (no terminal to prompt on), stopping it at its deadline. Safe to call
// from many goroutines.
func (h *helperEnv) run(stdin string, args ...string) timedResult {
	deadline := h.deadline
	if deadline == 0 {
		deadline = childDeadline
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.bin, dockerName), args...)
	cmd.Env = h.env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := timedResult{runResult: runResult{args: append([]string{dockerName}, args...)}, took: time.Since(start)}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.code, r.hung = -1, true
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		r.code, r.stderr = -1, err.Error()
	}
	return r
}

func (r timedResult) String() string {
	return fmt.Sprintf("%v\ntook %s", r.runResult, r.took.Round(time.Millisecond))
}

func loadServer(i int) string { return fmt.Sprintf("https://srv-%03d.example", i) }
func loadUser(i int) string   { return fmt.Sprintf("user-%03d", i) }
func loadSecret(i int) string { return fmt.Sprintf("secret-%03d-%x", i, i*7919) }

func (h *helperEnv) store(i int) timedResult {
	in, _ := json.Marshal(map[string]string{"ServerURL": loadServer(i), "Username": loadUser(i), "Secret": loadSecret(i)})
	return h.run(string(in), "store")
}

// get runs a get of server i and checks its answer: exactly its username and
// secret, or an error.
func (h *helperEnv) get(i int) (timedResult, error) {
	r := h.run(loadServer(i), "get")
	if r.code != 0 {
		return r, fmt.Errorf("%v", r)
	}
	var c struct{ ServerURL, Username, Secret string }
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		return r, fmt.Errorf("%v: %v", r, err)
	}
	if c.Username != loadUser(i) || c.Secret != loadSecret(i) || r.stderr != "" {
		return r, fmt.Errorf("%v\nwrong answer: want username %q, secret %q", r, loadUser(i), loadSecret(i))
	}
	return r, nil
}

// storeAll stores servers [0, n) with n processes at once.
func (h *helperEnv) storeAll(n int) time.Duration {
	h.t.Helper()
	results := make([]timedResult, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = h.store(i) })
	}
	wg.Wait()
	took := time.Since(start)
	var max time.Duration
	for _, r := range results {
		if r.code != 0 || r.stdout != "" {
			h.t.Errorf("concurrent store: %v", r)
		}
		max = maxDuration(max, r.took)
	}
	h.t.Logf("%d store processes at once: all done in %s, slowest %s", n, took.Round(time.Millisecond), max.Round(time.Millisecond))
	return took
}

// checkList checks that list shows servers [0, n) with their usernames.
func (h *helperEnv) checkList(n int) {
	h.t.Helper()
	r := h.run("", "list")
	got := map[string]string{}
	if r.code != 0 || r.stderr != "" || json.Unmarshal([]byte(r.stdout), &got) != nil {
		h.t.Fatalf("list: %v", r)
	}
	want := map[string]string{}
	for i := range n {
		want[loadServer(i)] = loadUser(i)
	}
	for s, u := range want {
		if got[s] != u {
			h.t.Errorf("list: %s has username %q, want %q", s, got[s], u)
		}
	}
	if len(got) != len(want) {
		h.t.Errorf("list holds %d entries, want %d", len(got), len(want))
	}
}

// checkAll gets each of servers [0, n) once, parallel at a time, and
// checks every answer.
func (h *helperEnv) checkAll(n, parallel int) {
	h.t.Helper()
	h.getMany(n, n, parallel)
}

// getMany runs count gets of servers [0, servers), parallel at a time, and
// checks every answer; it logs the throughput and the slowest process.
func (h *helperEnv) getMany(count, servers, parallel int) {
	h.t.Helper()
	sem := make(chan struct{}, parallel)
	errs := make([]error, count)
	took := make([]time.Duration, count)
	start := time.Now()
	var wg sync.WaitGroup
	for k := range count {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var r timedResult
			r, errs[k] = h.get(k % servers)
			took[k] = r.took
		})
	}
	wg.Wait()
	total := time.Since(start)
	failed := 0
	for _, err := range errs {
		if err != nil {
			if failed++; failed <= 5 {
				h.t.Errorf("get: %v", err)
			}
		}
	}
	if failed > 0 {
		h.t.Errorf("%d of %d gets failed or answered wrong", failed, count)
	}
	h.t.Logf("%d get processes, %d at a time: %s, %.0f gets/s, slowest %s",
		count, parallel, total.Round(time.Millisecond), float64(count)/total.Seconds(), slices.Max(took).Round(time.Millisecond))
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// load stores loadServers servers at once, lists them, and reads them back
// with gets processes.
func load(t *testing.T, h *helperEnv, gets int) {
	start := time.Now()
	h.storeAll(loadServers)
	h.checkList(loadServers)
	h.getMany(gets, loadServers, loadParallel)
	t.Logf("whole load run: %s", time.Since(start).Round(time.Millisecond))
}

func TestLoadSecretService(t *testing.T) {
	bus := testenv.SecretService(t)
	load(t, newHelperEnv(t, "secret-service", "DBUS_SESSION_BUS_ADDRESS="+bus), 1000)
}

func TestLoadKWallet(t *testing.T) {
	bus := testenv.KWallet(t)
	load(t, newHelperEnv(t, "kwallet", "DBUS_SESSION_BUS_ADDRESS="+bus), 1000)
}

// TestLoadPass raises the deadlines: 200 `pass insert` at once, each a
// shell and a gpg encryption, take 6-9 s on 2 cores, and up to 20 s when
// other tests load the machine too, as the gpg processes queue for the lock
// on the key ring's random_seed with growing back-off. With the default 5 s
// some of them report a timeout (while their pass, left to finish, still
// writes the entry).
func TestLoadPass(t *testing.T) {
	h := newHelperEnv(t, "pass", append(passEnv(t), "ACTIVELOOP_CREDENTIAL_TIMEOUT=60s")...)
	h.deadline = 90 * time.Second
	load(t, h, 1000)
}

func TestLoadKeyctl(t *testing.T) {
	opts := testenv.Keyctl(t)
	load(t, newHelperEnv(t, "keyctl", "ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE="+opts.KeyctlScope, "DBUS_SESSION_BUS_ADDRESS=disabled:"), 1000)
}

// The fault tests.

// faultEntries is how many entries each fault test stores before the fault.
const faultEntries = 20

// faultEnv is h with the fault tests' short deadline.
func faultEnv(h *helperEnv) *helperEnv {
	return h.with("ACTIVELOOP_CREDENTIAL_TIMEOUT=" + faultTimeout.String())
}

// inFlight runs gets of the stored entries in a loop, parallel at a time,
// until the returned function is called; that function checks that each
// one either answered right or failed in time, never hung, and returns how
// many did each.
func inFlight(t *testing.T, h *helperEnv, parallel int) (stop func() (ok, failed int)) {
	t.Helper()
	done := make(chan struct{})
	var (
		mu          sync.Mutex
		ok, failed  int
		wg          sync.WaitGroup
		problemSeen bool
	)
	for w := range parallel {
		wg.Go(func() {
			for k := w; ; k += parallel {
				select {
				case <-done:
					return
				default:
				}
				r, err := h.get(k % faultEntries)
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case r.code == 0 || r.hung || r.took > 2*faultTimeout+faultSlack:
					// A wrong answer, or a process that outlived both its
					// deadlines (opening the store and the read).
					if !problemSeen {
						t.Errorf("get in flight during the fault: %v", err)
					}
					problemSeen = true
				default:
					failed++
				}
				mu.Unlock()
			}
		})
	}
	return func() (int, int) {
		close(done)
		wg.Wait()
		return ok, failed
	}
}

// wantFailFast checks that gets fail within the deadline, with a message
// that holds every one of want, and returns the slowest.
func wantFailFast(t *testing.T, h *helperEnv, what string, want ...string) time.Duration {
	t.Helper()
	var slowest time.Duration
	for i := range 3 {
		r, err := h.get(i)
		if err == nil {
			t.Errorf("get with %s succeeded: %v", what, r)
			continue
		}
		slowest = maxDuration(slowest, r.took)
		if r.hung || r.took > faultTimeout+faultSlack {
			t.Errorf("get with %s: took %s, want at most %s: %v", what, r.took.Round(time.Millisecond), faultTimeout+faultSlack, r)
		}
		msg := r.stdout + r.stderr
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("get with %s: message does not say %q: %v", what, w, r)
			}
		}
	}
	t.Logf("get with %s: a clear error in at most %s", what, slowest.Round(time.Millisecond))
	return slowest
}

// storeEntries stores the fault tests' entries, all at once, under a long
// deadline: the fault has not happened yet, and a loaded machine must not
// fail the test here.
func storeEntries(t *testing.T, h *helperEnv) {
	t.Helper()
	h = h.with("ACTIVELOOP_CREDENTIAL_TIMEOUT=60s") // the last setting wins
	h.deadline = 90 * time.Second
	var wg sync.WaitGroup
	for i := range faultEntries {
		wg.Go(func() {
			if r := h.store(i); r.code != 0 {
				t.Errorf("store before the fault: %v", r)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// waitUntil polls cond every 20 ms for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sendSignal(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill -%d %d: %v", sig, pid, err)
	}
}

// gone reports whether process pid has exited (and been reaped, or is a
// zombie waiting to be).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// faultRun stores the entries, runs gets in flight while fault happens, and
// logs how the in-flight gets ended.
func faultRun(t *testing.T, h *helperEnv, fault func()) {
	t.Helper()
	storeEntries(t, h)
	stop := inFlight(t, h, 8)
	time.Sleep(300 * time.Millisecond)
	fault()
	time.Sleep(300 * time.Millisecond)
	ok, failed := stop()
	t.Logf("gets in flight during the fault: %d answered right, %d failed in time, none hung or answered wrong", ok, failed)
}

func TestFaultSecretServiceKilled(t *testing.T) {
	bus, restart := testenv.RestartableSecretService(t)
	h := faultEnv(newHelperEnv(t, "secret-service", "DBUS_SESSION_BUS_ADDRESS="+bus))
	pid := testenv.OwnerPID(t, bus, "org.freedesktop.secrets")
	faultRun(t, h, func() {
		sendSignal(t, pid, syscall.SIGKILL)
		waitUntil(t, "gnome-keyring-daemon exits", func() bool { return gone(pid) })
	})
	wantFailFast(t, h, "gnome-keyring-daemon killed", "no Secret Service", "start gnome-keyring-daemon")

	// The items were written to the keyring file: a new daemon, unlocked
	// on the same files, has every one.
	restart(t)
	h.checkAll(faultEntries, 8)
}

func TestFaultSecretServiceLocked(t *testing.T) {
	bus := testenv.SecretService(t)
	h := faultEnv(newHelperEnv(t, "secret-service", "DBUS_SESSION_BUS_ADDRESS="+bus))
	var coll dbus.ObjectPath
	faultRun(t, h, func() { coll = lockCollection(t, bus) })
	wantFailFast(t, h, "the collection locked", "is locked", "unlock it")
	// Unlocked again with its password, it has every entry.
	unlockCollection(t, bus, coll)
	h.checkAll(faultEntries, 8)
}

func TestFaultSecretServiceStopped(t *testing.T) {
	bus := testenv.SecretService(t)
	h := faultEnv(newHelperEnv(t, "secret-service", "DBUS_SESSION_BUS_ADDRESS="+bus))
	pid := testenv.OwnerPID(t, bus, "org.freedesktop.secrets")
	faultRun(t, h, func() { sendSignal(t, pid, syscall.SIGSTOP) })
	wantFailFast(t, h, "gnome-keyring-daemon stopped", "in time")
	sendSignal(t, pid, syscall.SIGCONT)
	h.checkAll(faultEntries, 8)
}

func TestFaultPassAgentKilled(t *testing.T) {
	h := faultEnv(newHelperEnv(t, "pass", passEnv(t)...))
	storeEntries(t, h)
	pid := testenv.GPGAgentPID(t)
	stop := inFlight(t, h, 4)
	time.Sleep(300 * time.Millisecond)
	sendSignal(t, pid, syscall.SIGKILL)
	time.Sleep(time.Second)
	ok, failed := stop()
	t.Logf("gets in flight while gpg-agent was killed: %d answered right, %d failed in time, none hung or answered wrong", ok, failed)
	// gpg starts a new agent: gets work again, and nothing was lost.
	h.checkAll(faultEntries, 4)
}

func TestFaultPassAgentHung(t *testing.T) {
	h := faultEnv(newHelperEnv(t, "pass", passEnv(t)...))
	storeEntries(t, h)
	release := testenv.HangGPGAgent(t)
	wantFailFast(t, h, "gpg-agent hung", "did not read within "+faultTimeout.String())
	release() // the next gpg starts a new agent
	h.checkAll(faultEntries, 4)
}

func TestFaultBusKilled(t *testing.T) {
	for _, c := range []struct {
		backend string
		start   func(testing.TB) string
	}{
		{"secret-service", testenv.SecretService},
		{"kwallet", testenv.KWallet},
	} {
		t.Run(c.backend, func(t *testing.T) {
			bus := c.start(t)
			h := faultEnv(newHelperEnv(t, c.backend, "DBUS_SESSION_BUS_ADDRESS="+bus))
			pid := testenv.OwnerPID(t, bus, "org.freedesktop.DBus")
			faultRun(t, h, func() {
				sendSignal(t, pid, syscall.SIGKILL)
				waitUntil(t, "dbus-daemon exits", func() bool { return gone(pid) })
			})
			wantFailFast(t, h, "the session bus gone", "cannot connect to the D-Bus session bus")
		})
	}
}

func TestFaultKWalletKilled(t *testing.T) {
	bus := testenv.KWallet(t)
	h := faultEnv(newHelperEnv(t, "kwallet", "DBUS_SESSION_BUS_ADDRESS="+bus))
	pid := testenv.OwnerPID(t, bus, "org.kde.kwalletd5")
	faultRun(t, h, func() {
		sendSignal(t, pid, syscall.SIGKILL)
		waitUntil(t, "kwalletd5 exits", func() bool { return gone(pid) })
	})
	wantFailFast(t, h, "kwalletd5 killed", "kwalletd5 is not running")
}

func TestFaultKWalletClosed(t *testing.T) {
	bus := testenv.KWallet(t)
	h := faultEnv(newHelperEnv(t, "kwallet", "DBUS_SESSION_BUS_ADDRESS="+bus))
	faultRun(t, h, func() { kwalletClose(t, bus) })
	wantFailFast(t, h, "the wallet closed", "closed", "asking for its password")
	// Opening it again needs its password typed into kwalletd's dialog,
	// which it now shows (pamOpen is ignored while a dialog is up): not
	// something a test without a display can do.
}

func TestFaultKeyctlRevoked(t *testing.T) {
	opts := testenv.Keyctl(t)
	h := faultEnv(newHelperEnv(t, "keyctl", "ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE="+opts.KeyctlScope, "DBUS_SESSION_BUS_ADDRESS=disabled:"))
	storeEntries(t, h)

	// One key revoked: that entry is gone, the others are not.
	ring := keyctlOut(t, "search", "@u", "keyring", store.Namespace)
	key := keyctlKey(t, ring, "srv-000")
	keyctlOut(t, "revoke", key)
	r := h.run(loadServer(0), "get")
	if r.code == 0 || r.hung || r.took > faultTimeout+faultSlack || !strings.Contains(r.stdout, "credentials not found") {
		t.Errorf("get of a revoked key: want not found within the deadline: %v", r)
	}
	for i := 1; i < faultEntries; i++ {
		if _, err := h.get(i); err != nil {
			t.Errorf("get next to a revoked key: %v", err)
		}
	}
	// Storing it again replaces the revoked key.
	if r := h.store(0); r.code != 0 {
		t.Fatalf("store over a revoked key: %v", r)
	}
	h.checkAll(faultEntries, 8)

	// The whole keyring revoked: its items go with it, and every call
	// says so and what to do, until the user unlinks it.
	keyctlOut(t, "revoke", ring)
	t.Cleanup(func() { exec.Command("keyctl", "unlink", ring, "@u").Run() }) // if the test stops early
	for _, r := range []timedResult{h.run(loadServer(1), "get"), h.store(1), h.run("", "list")} {
		if r.code == 0 || r.hung || r.took > faultTimeout+faultSlack || !strings.Contains(r.stdout, "was revoked") || !strings.Contains(r.stdout, "keyctl unlink <ID> @u") {
			t.Errorf("with the keyring revoked: want an error that says so and what to do, within the deadline: %v", r)
		}
	}
	// What the message tells the user to do; then the backend works again.
	keyctlOut(t, "unlink", ring, "@u")
	if r := h.store(1); r.code != 0 {
		t.Fatalf("store after unlinking the revoked keyring: %v", r)
	}
	if _, err := h.get(1); err != nil {
		t.Errorf("get after unlinking the revoked keyring: %v", err)
	}
}

// keyctlKey returns the ID of the key in ring whose description holds name.
func keyctlKey(t *testing.T, ring, name string) string {
	t.Helper()
	for _, id := range strings.Fields(keyctlOut(t, "rlist", ring)) {
		if strings.Contains(keyctlOut(t, "rdescribe", id), name) {
			return id
		}
	}
	t.Fatalf("no key for %s in keyring %s", name, ring)
	return ""
}

// keyctlOut runs keyctl with args and returns its output, trimmed.
func keyctlOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("keyctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("keyctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
