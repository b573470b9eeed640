//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// The file backend, run as users run it: the built binary, many processes
// at once, killed at random, given wrong, missing and exposed passphrases.
// Every process runs in a session of its own, with no terminal to ask on.

const filePassphrase = "file backend passphrase of the tests"

// fileStore is one file store in a new directory, and the environment that
// selects it.
type fileStore struct {
	t   *testing.T
	bin string // directory of the built helper
	dir string // the store
	env []string
}

// newFileStore selects a file store in a new directory, the passphrase in
// the environment, and the key cache for ttl ("0" disables it). A cached key
// is dropped when the test ends.
func newFileStore(t *testing.T, ttl string) *fileStore {
	t.Helper()
	f := &fileStore{t: t, bin: builtHelper(t), dir: filepath.Join(t.TempDir(), "credentials")}
	f.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + emptyConfig(t),
		"ACTIVELOOP_CREDENTIAL_BACKEND=file",
		"ACTIVELOOP_CREDENTIAL_FILE_DIR=" + f.dir,
		"ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL=" + ttl,
		store.EnvFilePassphrase + "=" + filePassphrase,
		"DBUS_SESSION_BUS_ADDRESS=disabled:",
	}
	if ttl != "0" {
		t.Cleanup(func() {
			if r := f.run(nil, "", mainName, "lock"); r.code != 0 {
				t.Errorf("dropping the cached key: %v", r)
			}
		})
	}
	return f
}

// with returns the environment with name set to value, or removed if value
// is empty.
func (f *fileStore) with(name, value string) []string {
	var env []string
	for _, kv := range f.env {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	if value != "" {
		env = append(env, name+"="+value)
	}
	return env
}

// run runs the helper under program's name with args, in a session of its
// own. env nil means f.env. Safe to call from many goroutines.
func (f *fileStore) run(env []string, stdin, program string, args ...string) runResult {
	if env == nil {
		env = f.env
	}
	cmd := exec.Command(filepath.Join(f.bin, program), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal: no prompt
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	res := runResult{args: append([]string{program}, args...)}
	if err := cmd.Start(); err != nil {
		res.code, res.stderr = -1, err.Error()
		return res
	}
	timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	res.stdout, res.stderr = stdout.String(), stderr.String()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		res.code, res.stderr = -1, err.Error()
	}
	return res
}

func (f *fileStore) store(env []string, server, username, secret string) runResult {
	in, _ := json.Marshal(map[string]string{"ServerURL": server, "Username": username, "Secret": secret})
	return f.run(env, string(in), dockerName, "store")
}

// get returns the secret stored for server.
func (f *fileStore) get(env []string, server string) (string, runResult) {
	r := f.run(env, server, dockerName, "get")
	var c struct{ Secret string }
	if r.code == 0 {
		if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
			r.code = -1
		}
	}
	return c.Secret, r
}

func (f *fileStore) mustStore(server, username, secret string) {
	f.t.Helper()
	if r := f.store(nil, server, username, secret); r.code != 0 || r.stdout != "" {
		f.t.Fatalf("%v", r)
	}
}

func (f *fileStore) list() (map[string]string, runResult) {
	r := f.run(nil, "", dockerName, "list")
	m := map[string]string{}
	if r.code == 0 {
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
			r.code = -1
		}
	}
	return m, r
}

// files returns every file of the store: name to mode and content.
func (f *fileStore) files() map[string]string {
	f.t.Helper()
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		fi, _ := e.Info()
		b, err := os.ReadFile(filepath.Join(f.dir, e.Name()))
		if err != nil {
			f.t.Fatal(err)
		}
		m[e.Name()] = fmt.Sprintf("%v %v %x", fi.Mode(), fi.ModTime().UnixNano(), b)
	}
	return m
}

func sameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestFileBackendConcurrentStoresOfManyServers(t *testing.T) {
	f := newFileStore(t, "5m")
	f.mustStore("https://first.example", "first", "made the store and cached its key")
	const n = 200
	results := make([]runResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = f.store(nil, fmt.Sprintf("https://srv-%03d.example", i), fmt.Sprintf("user-%03d", i), fmt.Sprintf("secret-%03d", i))
		})
	}
	wg.Wait()
	for _, r := range results {
		if r.code != 0 {
			t.Errorf("concurrent store: %v", r)
		}
	}
	m, r := f.list()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("list: %v", r)
	}
	if len(m) != n+1 {
		t.Errorf("list has %d servers, want %d", len(m), n+1)
	}
	for i := range n {
		if u, ok := m[fmt.Sprintf("https://srv-%03d.example", i)]; !ok || u != fmt.Sprintf("user-%03d", i) {
			t.Errorf("list: srv-%03d is %q (present %v)", i, u, ok)
		}
	}
	// Every one readable, eight processes at a time.
	next := atomic.Int32{}
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				got, r := f.get(nil, fmt.Sprintf("https://srv-%03d.example", i))
				if r.code != 0 || got != fmt.Sprintf("secret-%03d", i) {
					t.Errorf("get srv-%03d = %q: %v", i, got, r)
				}
			}
		})
	}
	wg.Wait()
}

func TestFileBackendReadersDuringWrites(t *testing.T) {
	f := newFileStore(t, "5m")
	const server = "https://contended.example"
	var written sync.Map
	written.Store("seed", true)
	f.mustStore(server, "seed", "seed")
	var (
		wg            sync.WaitGroup
		reads, writes atomic.Int64
		stop          = time.Now().Add(10 * time.Second)
	)
	for w := range 20 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				// Lengths vary, so a torn or mixed write would show.
				secret := fmt.Sprintf("w%02d-%06d-%s", w, i, strings.Repeat("x", rand.IntN(3000)))
				written.Store(secret, true)
				if r := f.store(nil, server, fmt.Sprintf("writer-%02d", w), secret); r.code != 0 {
					t.Errorf("writer %d: %v", w, r)
					return
				}
				writes.Add(1)
			}
		})
	}
	for range 20 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				got, r := f.get(nil, server)
				if r.code != 0 {
					t.Errorf("reader: %v", r)
					return
				}
				if _, ok := written.Load(got); !ok {
					t.Errorf("reader got %.40q, which no writer wrote", got)
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	got, r := f.get(nil, server)
	if _, ok := written.Load(got); r.code != 0 || !ok {
		t.Errorf("final value %.40q (%v): not one that was written", got, r)
	}
	t.Logf("%d whole-process writes and %d reads in 10 s, no error", writes.Load(), reads.Load())
}

func TestFileBackendKilledWriterLoop(t *testing.T) {
	f := newFileStore(t, "5m")
	others := map[string]string{}
	for i := range 10 {
		s := fmt.Sprintf("https://other-%d.example", i)
		others[s] = fmt.Sprintf("other secret %d", i)
		f.mustStore(s, "other", others[s])
	}
	const victim = "https://victim.example"
	f.mustStore(victim, "victim", "victim-0-end")
	// A shell loop storing the victim's credentials over and over, with
	// secrets of varying length: "victim-<n>-<padding>end".
	loop := `i=0; pad=""
while :; do
  i=$((i+1)); pad="$pad$i"; [ ${#pad} -gt 2000 ] && pad=""
  printf '{"ServerURL":"` + victim + `","Username":"victim","Secret":"victim-%d-%send"}' "$i" "$pad" |
    ` + filepath.Join(f.bin, dockerName) + ` store >/dev/null || exit 3
done`
	wellFormed := func(s string) bool {
		var n int
		var rest string
		if _, err := fmt.Sscanf(s, "victim-%d-%s", &n, &rest); err != nil {
			return false
		}
		return strings.HasSuffix(s, "end")
	}
	for round := range 50 {
		cmd := exec.Command("sh", "-c", loop)
		cmd.Env = f.env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // its own process group, to kill whole
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rand.IntN(130)) * time.Millisecond)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && !ws.Signaled() {
			t.Fatalf("round %d: the writer loop stopped by itself: %v", round, cmd.ProcessState)
		}

		m, r := f.list()
		if r.code != 0 || r.stderr != "" || len(m) != len(others)+1 {
			t.Fatalf("round %d: after a killed writer, list: %d servers: %v", round, len(m), r)
		}
		got, r := f.get(nil, victim)
		if r.code != 0 || !wellFormed(got) {
			t.Fatalf("round %d: victim = %.40q: %v", round, got, r)
		}
		if round%10 == 9 {
			for s, want := range others {
				if got, r := f.get(nil, s); r.code != 0 || got != want {
					t.Fatalf("round %d: %s = %q, want %q: %v", round, s, got, want, r)
				}
			}
		}
	}
}

func TestFileBackendWrongPassphrase(t *testing.T) {
	for _, ttl := range []string{"0", "5m"} {
		t.Run("cache "+ttl, func(t *testing.T) {
			f := newFileStore(t, ttl)
			f.mustStore("https://a.example", "alice", "alice's secret")
			before := f.files()
			const wrong = "not the passphrase"
			env := f.with(store.EnvFilePassphrase, wrong)
			for _, r := range []runResult{
				f.store(env, "https://a.example", "mallory", "replaced"),
				f.store(env, "https://new.example", "mallory", "added"),
				f.run(env, "https://a.example", dockerName, "get"),
				f.run(env, "https://a.example", dockerName, "erase"),
				f.run(env, "", dockerName, "list"),
			} {
				if r.code != 1 || !strings.Contains(r.stdout, "wrong passphrase (from "+store.EnvFilePassphrase+")") ||
					!strings.Contains(r.stdout, "nothing was read or written") {
					t.Errorf("%v\nwant exit status 1 and the wrong passphrase named", r)
				}
				if strings.Contains(r.stdout+r.stderr, wrong) || strings.Contains(r.stdout+r.stderr, filePassphrase) {
					t.Errorf("%v\nshows a passphrase", r)
				}
			}
			if !sameFiles(before, f.files()) {
				t.Error("commands with a wrong passphrase changed the store's files")
			}
			if got, r := f.get(nil, "https://a.example"); got != "alice's secret" {
				t.Errorf("with the right passphrase: %q %v", got, r)
			}
		})
	}
}

func TestFileBackendNoPassphrase(t *testing.T) {
	f := newFileStore(t, "0")
	env := f.with(store.EnvFilePassphrase, "")
	check := func(r runResult) {
		t.Helper()
		for _, want := range []string{"no passphrase", store.EnvFilePassphrase, "file_passphrase_file", "ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE_FILE", "/dev/tty"} {
			if r.code != 1 || !strings.Contains(r.stdout, want) {
				t.Errorf("%v\nwant exit status 1 and %q", r, want)
			}
		}
	}
	check(f.store(env, "https://a.example", "alice", "secret"))
	if _, err := os.Stat(f.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a store without a passphrase made %s", f.dir)
	}
	f.mustStore("https://a.example", "alice", "secret")
	_, r := f.get(env, "https://a.example")
	check(r)
}

func TestFileBackendPassphraseFile(t *testing.T) {
	f := newFileStore(t, "0")
	f.mustStore("https://a.example", "alice", "secret")
	pf := filepath.Join(t.TempDir(), "passphrase")
	os.WriteFile(pf, []byte(filePassphrase+"\n"), 0o600)
	env := f.with(store.EnvFilePassphrase, "")
	env = append(env, "ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE_FILE="+pf)
	if got, r := f.get(env, "https://a.example"); got != "secret" {
		t.Errorf("with the passphrase file from the environment: %v", r)
	}
	// The same from the config file.
	config := filepath.Join(t.TempDir(), "credential-helper.toml")
	os.WriteFile(config, fmt.Appendf(nil, "file_passphrase_file = %q\n", pf), 0o600)
	cenv := append(f.with(store.EnvFilePassphrase, ""), "ACTIVELOOP_CREDENTIAL_HELPER_CONFIG="+config)
	if got, r := f.get(cenv, "https://a.example"); got != "secret" {
		t.Errorf("with the passphrase file from the config file: %v", r)
	}
	os.Chmod(pf, 0o644)
	if _, r := f.get(env, "https://a.example"); r.code != 1 || !strings.Contains(r.stdout, "chmod 600 "+pf) {
		t.Errorf("%v\nwant a refusal of the readable passphrase file, with the chmod that fixes it", r)
	}
}

func TestFileBackendDamagedEntry(t *testing.T) {
	f := newFileStore(t, "5m")
	f.mustStore("https://a.example", "alice", "a")
	f.mustStore("https://c.example", "carol", "c")
	before := f.files()
	f.mustStore("https://b.example", "bob", "b")
	var damaged string
	for name := range f.files() {
		if _, ok := before[name]; !ok {
			damaged = filepath.Join(f.dir, name)
		}
	}
	b, _ := os.ReadFile(damaged)
	b[len(b)-5] ^= 0xff
	os.WriteFile(damaged, b, 0o600)

	if _, r := f.get(nil, "https://b.example"); r.code != 1 || !strings.Contains(r.stdout, damaged) {
		t.Errorf("%v\nwant exit status 1 and the damaged file named", r)
	}
	for s, want := range map[string]string{"https://a.example": "a", "https://c.example": "c"} {
		if got, r := f.get(nil, s); got != want {
			t.Errorf("beside a damaged entry: %v", r)
		}
	}
	m, r := f.list()
	if r.code != 0 || len(m) != 2 || !strings.Contains(r.stderr, damaged) {
		t.Errorf("list: %v\nwant the two others, and a warning naming %s", r, damaged)
	}
	// Storing the server again replaces the damaged entry.
	f.mustStore("https://b.example", "bob", "b again")
	if got, r := f.get(nil, "https://b.example"); got != "b again" {
		t.Errorf("after storing again: %v", r)
	}
}

func TestFileBackendRefusesOpenDirectory(t *testing.T) {
	f := newFileStore(t, "0")
	f.mustStore("https://a.example", "alice", "a")
	os.Chmod(f.dir, 0o755)
	if _, r := f.get(nil, "https://a.example"); r.code != 1 || !strings.Contains(r.stdout, "chmod 700 "+f.dir) {
		t.Errorf("%v\nwant a refusal with the chmod that fixes it", r)
	}
	os.Chmod(f.dir, 0o700)
	if got, r := f.get(nil, "https://a.example"); got != "a" {
		t.Errorf("after chmod 700: %v", r)
	}
}

func TestFileBackendKeyCacheAndLock(t *testing.T) {
	f := newFileStore(t, "15m")
	f.mustStore("https://a.example", "alice", "a")
	noPass := f.with(store.EnvFilePassphrase, "")
	if got, r := f.get(noPass, "https://a.example"); got != "a" {
		t.Fatalf("warm get without the passphrase: %v", r)
	}
	r := f.run(nil, "", mainName, "lock")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "forgot the cached key of the credential store in "+f.dir) {
		t.Errorf("lock: %v", r)
	}
	if _, r := f.get(noPass, "https://a.example"); r.code != 1 || !strings.Contains(r.stdout, "no passphrase") {
		t.Errorf("get after lock without the passphrase: %v", r)
	}
	if r := f.run(nil, "", mainName, "lock"); r.code != 0 || !strings.Contains(r.stderr, "no key of the credential store in "+f.dir+" was cached") {
		t.Errorf("lock again: %v", r)
	}
	// The passphrase unlocks it again, and caches the key again.
	if got, r := f.get(nil, "https://a.example"); got != "a" {
		t.Fatalf("get with the passphrase: %v", r)
	}
	if got, r := f.get(noPass, "https://a.example"); got != "a" {
		t.Fatalf("warm get without the passphrase: %v", r)
	}

	// With the cache disabled, every call needs the passphrase.
	off := f.with("ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL", "0")
	g := &fileStore{t: t, bin: f.bin, dir: filepath.Join(t.TempDir(), "uncached"), env: off}
	g.env = g.with("ACTIVELOOP_CREDENTIAL_FILE_DIR", g.dir)
	g.mustStore("https://a.example", "alice", "a")
	if _, r := g.get(g.with(store.EnvFilePassphrase, ""), "https://a.example"); r.code != 1 {
		t.Errorf("with file_key_cache_ttl 0, a get without the passphrase: %v", r)
	}
}

// TestFileBackendColdGetsDeriveOnce starts many gets at once with no key
// cached, as a `docker compose pull` of many images does after the cache
// expired: one of them derives the key (Argon2id's 64 MiB and 0.2 s), the
// others wait for it and find the key cached. Each says which it did under
// --debug; with the cache disabled, each derives (the control).
func TestFileBackendColdGetsDeriveOnce(t *testing.T) {
	f := newFileStore(t, "15m")
	f.mustStore("https://a.example", "alice", "a")
	debug := f.with("ACTIVELOOP_CREDENTIAL_DEBUG", "1")
	deriving := func(env []string) int {
		const n = 8
		results := make(chan runResult, n)
		for range n {
			go func() {
				_, r := f.get(env, "https://a.example")
				results <- r
			}()
		}
		derived := 0
		for range n {
			r := <-results
			if r.code != 0 {
				t.Fatalf("cold get: %v", r)
			}
			switch {
			case strings.Contains(r.stderr, "debug: backend file: key derived from "+store.EnvFilePassphrase+" with argon2id t=3 m=65536KiB p=4 in "):
				derived++
			case strings.Contains(r.stderr, "debug: backend file: key from the kernel keyring's cache"):
			default:
				t.Fatalf("a get that says neither how it had the key:\n%s", r.stderr)
			}
		}
		return derived
	}
	if r := f.run(nil, "", mainName, "lock"); r.code != 0 {
		t.Fatalf("lock: %v", r)
	}
	if d := deriving(debug); d != 1 {
		t.Errorf("%d of 8 concurrent cold gets derived the key; want 1", d)
	}
	uncached := (&fileStore{env: debug}).with("ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL", "0")
	if d := deriving(uncached); d != 8 {
		t.Errorf("with the cache disabled, %d of 8 gets derived the key; want 8", d)
	}
}

func TestFileBackendAutoFallsBack(t *testing.T) {
	f := newFileStore(t, "0")
	env := f.with("ACTIVELOOP_CREDENTIAL_BACKEND", "auto")
	env = append(env, "PASSWORD_STORE_DIR="+filepath.Join(t.TempDir(), "no-password-store"))
	r := f.run(env, "", mainName, "--debug", "list")
	if r.code != 0 || r.stdout != "{}\n" || !strings.Contains(r.stderr, "backend file: auto: fell back to file") {
		t.Errorf("%v\nwant auto to fall back to file and say so", r)
	}
}

// filePTY returns a new pseudo-terminal's master and its terminal.
func filePTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	rc, err := master.SyscallConn() // not Fd(): it would make reads blocking, and deadlines moot
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if cerr := rc.Control(func(fd uintptr) {
		if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	}); cerr != nil || err != nil {
		t.Fatalf("unlocking a pseudo-terminal: %v %v", cerr, err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, tty
}

// runOnTerminal runs the helper in a session whose controlling terminal is
// a new pseudo-terminal, typing each answer there once the helper has shown
// one more prompt on stderr. Beside the run, it returns what the terminal
// showed, echoes included, and whether it echoes again once the helper is
// gone.
func (f *fileStore) runOnTerminal(env []string, stdin string, answers []string, program string, args ...string) (r runResult, shown string, echo bool) {
	t := f.t
	t.Helper()
	master, tty := filePTY(t)
	cmd := exec.Command(filepath.Join(f.bin, program), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{tty} // fd 3 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var stderr bytes.Buffer
	buf := make([]byte, 512)
	for i, a := range answers {
		// Every prompt ends "(within Ns): ".
		for bytes.Count(stderr.Bytes(), []byte("s): ")) <= i {
			n, err := errPipe.Read(buf)
			stderr.Write(buf[:n])
			if err != nil {
				break
			}
		}
		master.Write([]byte(a + "\n"))
	}
	rest, _ := io.ReadAll(errPipe)
	stderr.Write(rest)
	err = cmd.Wait()
	res := runResult{args: append([]string{program}, args...), stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		res.code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	rc, err := tty.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) {
		tio, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		echo = err == nil && tio.Lflag&unix.ECHO != 0
	})
	tty.Close()
	// Closed on the child's side too: read what the terminal was sent.
	master.SetReadDeadline(time.Now().Add(time.Second))
	b, _ := io.ReadAll(master)
	return res, string(b), echo
}

func TestFileBackendPromptsOnTerminal(t *testing.T) {
	f := newFileStore(t, "0")
	noPass := f.with(store.EnvFilePassphrase, "")
	const typed = "typed at the terminal"
	creds := `{"ServerURL":"https://a.example","Username":"alice","Secret":"alice's secret"}`

	// A new store asks twice, on stderr; stdout stays the protocol's.
	r, shown, echo := f.runOnTerminal(noPass, creds, []string{typed, typed}, dockerName, "store")
	if r.code != 0 || r.stdout != "" || !echo ||
		!strings.Contains(r.stderr, "new passphrase for the credential store in "+f.dir) ||
		!strings.Contains(r.stderr, "the same passphrase again") {
		t.Fatalf("store asking for a new passphrase: %v", r)
	}
	if strings.Contains(shown, typed) || strings.Contains(r.stderr, typed) {
		t.Errorf("the typed passphrase was echoed: terminal %q, stderr %q", shown, r.stderr)
	}

	// An existing store asks once.
	r, shown, echo = f.runOnTerminal(noPass, "https://a.example", []string{typed}, dockerName, "get")
	if r.code != 0 || !echo || !strings.Contains(r.stdout, "alice's secret") || strings.Contains(r.stdout, "passphrase") ||
		!strings.Contains(r.stderr, "passphrase of the credential store in "+f.dir) {
		t.Errorf("get asking for the passphrase: %v", r)
	}
	if strings.Contains(shown, typed) {
		t.Errorf("the typed passphrase was echoed: %q", shown)
	}

	// A wrong one is refused, and so are two that differ for a new store.
	r, _, _ = f.runOnTerminal(noPass, "https://a.example", []string{"not it"}, dockerName, "get")
	if r.code != 1 || !strings.Contains(r.stdout, "wrong passphrase (from the passphrase typed)") {
		t.Errorf("get with a wrong passphrase typed: %v", r)
	}
	g := f.with("ACTIVELOOP_CREDENTIAL_FILE_DIR", filepath.Join(t.TempDir(), "second"))
	g = (&fileStore{env: g}).with(store.EnvFilePassphrase, "")
	r, _, _ = f.runOnTerminal(g, creds, []string{typed, typed + "!"}, dockerName, "store")
	if r.code != 1 || !strings.Contains(r.stdout, "the two passphrases differ; nothing was written") {
		t.Errorf("store with two different passphrases typed: %v", r)
	}

	// Nobody answers: an error at the deadline, and the terminal echoes again.
	slow := append(slices.Clone(noPass), "ACTIVELOOP_CREDENTIAL_TIMEOUT=1s")
	start := time.Now()
	r, _, echo = f.runOnTerminal(slow, "https://a.example", nil, dockerName, "get")
	if r.code != 1 || !strings.Contains(r.stdout, "no passphrase was typed in time") || !echo {
		t.Errorf("get with nobody at the terminal: %v; echo on afterwards: %v", r, echo)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("get with nobody at the terminal took %s, want about the 1s timeout", d)
	}
}
