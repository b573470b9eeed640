//go:build !windows

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/helper"
	"github.com/activeloopai/activeloop-credential-helper/internal/activeloop/activeloopfake"
	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// waitFile waits for a file a child creates when it is ready.
func waitFile(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 10s", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// trapScript traps the signals exec passes on, says which arrived, and
// exits 3; it touches ready once its traps are set.
const trapScript = `trap 'echo got INT; exit 3' INT; trap 'echo got TERM; exit 3' TERM; touch "$1"; while :; do sleep 0.05; done`

// TestExecSignals sends SIGINT and SIGTERM to the built helper running exec:
// the command gets them, and the helper's exit status is the command's.
func TestExecSignals(t *testing.T) {
	bin := filepath.Join(builtHelper(t), mainName)
	// Caught here, the signals are at their defaults in the children, even
	// when this test runs where SIGINT is ignored (a background job).
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	defer signal.Stop(c)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + emptyConfig(t),
		"ACTIVELOOP_TOKEN=signal-test-token",
	}
	for _, tt := range []struct {
		sig        syscall.Signal
		script     string
		wantCode   int
		wantSignal syscall.Signal
		wantOut    string
	}{
		{sig: syscall.SIGINT, script: trapScript, wantCode: 3, wantOut: "got INT\n"},
		{sig: syscall.SIGTERM, script: trapScript, wantCode: 3, wantOut: "got TERM\n"},
		// Not trapped: the signal ends the command, and so the helper.
		{sig: syscall.SIGTERM, script: `touch "$1"; exec sleep 30`, wantSignal: syscall.SIGTERM},
	} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			cmd := exec.Command(bin, "exec", "--", "sh", "-c", tt.script, "sh", ready)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFile(t, ready)
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("the command did not end after %v", tt.sig)
			}
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if tt.wantSignal != 0 {
				if !ws.Signaled() || ws.Signal() != tt.wantSignal {
					t.Errorf("status %v, want killed by %v", cmd.ProcessState, tt.wantSignal)
				}
			} else if ws.Signaled() || ws.ExitStatus() != tt.wantCode {
				t.Errorf("status %v, want exit %d", cmd.ProcessState, tt.wantCode)
			}
			if stdout.String() != tt.wantOut {
				t.Errorf("stdout %q, want %q; stderr %q", stdout.String(), tt.wantOut, stderr.String())
			}
		})
	}
}

// Where the command cannot replace the helper (Windows), it runs as a child:
// the signals that reach the helper are passed on and its exit status is
// the command's. Run here, that path is the same code.
func TestExecChild(t *testing.T) {
	defer func(v bool) { execInPlace = v }(execInPlace)
	execInPlace = false
	var stdout, stderr bytes.Buffer
	u := newUserCmd(&appEnv{stdin: strings.NewReader("input"), stdout: &stdout, stderr: &stderr})
	code, err := u.runWithToken([]string{"sh", "-c", `printf '%s|' "$ACTIVELOOP_TOKEN" "$0"; cat; exit 5`}, "child-token")
	if err != nil {
		t.Fatal(err)
	}
	if code != 5 || stdout.String() != "child-token|sh|input" {
		t.Errorf("exit %d, stdout %q; want 5 and the token from the environment, then stdin", code, stdout.String())
	}
	if _, err := u.runWithToken([]string{"no-such-command-here"}, "tok"); err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Errorf("a missing command: %v", err)
	}

	for _, tt := range []struct {
		script string
		want   int
	}{
		{trapScript, 3},
		{`touch "$1"; exec sleep 30`, 128 + int(syscall.SIGTERM)},
	} {
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := exec.Command("sh", "-c", tt.script, "sh", ready)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFile(t, ready)
		sigs := make(chan os.Signal, 1)
		sigs <- syscall.SIGTERM
		if got := waitForwarding(cmd, sigs); got != tt.want {
			t.Errorf("%q after SIGTERM: exit %d, want %d", tt.script, got, tt.want)
		}
	}
}

func TestExecEnv(t *testing.T) {
	got := withEnv([]string{"A=1", "ACTIVELOOP_TOKEN=old", "B=2", "ACTIVELOOP_TOKEN=older"}, "ACTIVELOOP_TOKEN", "new")
	want := []string{"A=1", "B=2", "ACTIVELOOP_TOKEN=new"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("withEnv = %q, want %q", got, want)
	}
}

func TestStatusDescribeSource(t *testing.T) {
	at := time.Date(2030, 1, 1, 12, 30, 0, 0, time.UTC)
	for src, want := range map[string]string{
		"password": "secure store (password login, 2030-01-01 12:30 UTC)",
		"token":    "secure store (API token login, 2030-01-01 12:30 UTC)",
		"register": "secure store (registration, 2030-01-01 12:30 UTC)",
		"import":   "secure store (imported from ~/.activeloop/token, 2030-01-01 12:30 UTC)",
		"docker":   "secure store (stored by docker, 2030-01-01 12:30 UTC)",
		"git":      "secure store (stored by git, 2030-01-01 12:30 UTC)",
		"":         "secure store (stored, 2030-01-01 12:30 UTC)",
	} {
		res := helper.Resolved{Source: helper.SourceStore}
		res.Record.Source, res.Record.Obtained = src, at
		if got := describeSource(res); got != want {
			t.Errorf("source %q: %q, want %q", src, got, want)
		}
	}
}

// argvWatch reads the command line of every process on the machine, over
// and over, and remembers those that hold a secret.
type argvWatch struct {
	secrets [][]byte
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	hits    []string
	scans   int
}

func watchArgv(secrets []string) *argvWatch {
	w := &argvWatch{stop: make(chan struct{}), done: make(chan struct{})}
	for _, s := range secrets {
		w.secrets = append(w.secrets, []byte(s))
	}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			w.scan()
			time.Sleep(time.Millisecond)
		}
	}()
	return w
}

func (w *argvWatch) scan() {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, s := range w.secrets {
			if bytes.Contains(b, s) {
				hit := strings.ReplaceAll(string(b), "\x00", " ")
				w.mu.Lock()
				if !slices.Contains(w.hits, hit) {
					w.hits = append(w.hits, hit)
				}
				w.mu.Unlock()
			}
		}
	}
	w.mu.Lock()
	w.scans++
	w.mu.Unlock()
}

func (w *argvWatch) finish() (hits []string, scans int) {
	close(w.stop)
	<-w.done
	return w.hits, w.scans
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestSecretNeverLeaks runs every command for people, and the protocols, with
// known secrets (passwords, tokens, a server that echoes them back) and
// fails if a secret shows anywhere it must not (SPEC §11): on stderr, --debug
// output included; on the stdout of anything but token, get and the command
// exec runs; in any process's command line, the helper's, its backend's or
// exec's command's; in any file outside the store.
func TestSecretNeverLeaks(t *testing.T) {
	bin := builtHelper(t)
	opts := testenv.Pass(t)
	root := t.TempDir()
	home, tmp := filepath.Join(root, "home"), filepath.Join(root, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	f := activeloopfake.New(nil)
	defer f.Close()
	password := "pw-" + randomHex(t)
	newPassword := "pw-" + randomHex(t)
	f.AddUser(activeloopfake.User{Name: "alice", Password: password})
	exp := time.Now().Add(30 * 24 * time.Hour).Unix()
	token := activeloopfake.Sign(map[string]any{"id": "alice", "exp": exp, "nonce": randomHex(t)})
	legacy := activeloopfake.Sign(map[string]any{"id": "alice", "exp": exp, "nonce": randomHex(t)})
	expired := activeloopfake.Sign(map[string]any{"id": "alice", "exp": 1000000000, "nonce": randomHex(t)})
	echoToken := activeloopfake.Sign(map[string]any{"id": "echo", "nonce": randomHex(t)})
	secrets := []string{password, newPassword, token, legacy, expired, echoToken}

	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + tmp,
		"GNUPGHOME=" + os.Getenv("GNUPGHOME"),
		"PASSWORD_STORE_DIR=" + opts.PassDir,
		"ACTIVELOOP_CREDENTIAL_BACKEND=pass",
		"ACTIVELOOP_CREDENTIAL_PASS_PREFIX=secrets",
		"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + emptyConfig(t),
		"ACTIVELOOP_CREDENTIAL_SERVER=" + f.URL,
		"ACTIVELOOP_CREDENTIAL_DEBUG=1",
	}
	argvFile := filepath.Join(root, "argv")
	type step struct {
		name  string
		args  []string
		stdin string
		env   []string
		// mayPrint is a secret the step's stdout may hold: the answer asked
		// for.
		mayPrint string
		fails    bool
	}
	steps := []step{
		{name: "login with a password", args: []string{mainName, "login", "-u", "alice", "--password-stdin"}, stdin: password + "\n"},
		{name: "wrong password", args: []string{mainName, "login", "-u", "alice", "--password-stdin"}, stdin: newPassword + "\n", fails: true},
		{name: "a server echoing the password", args: []string{mainName, "login", "-u", "echo", "--password-stdin"}, stdin: password, fails: true},
		{name: "status", args: []string{mainName, "status"}},
		{name: "list", args: []string{mainName, "list"}},
		{name: "docker list", args: []string{dockerName, "list"}},
		{name: "login with a token", args: []string{mainName, "login", "--token-stdin"}, stdin: token},
		{name: "a server echoing the token", args: []string{mainName, "login", "--token-stdin"}, stdin: echoToken, fails: true},
		{name: "an expired token", args: []string{mainName, "login", "--token-stdin"}, stdin: expired, fails: true},
		{name: "token", args: []string{mainName, "token"}, mayPrint: token},
		{name: "docker get", args: []string{dockerName, "get"}, stdin: f.URL, mayPrint: token},
		{name: "exec", args: []string{mainName, "exec", "--", "sh", "-c", `tr '\0' ' ' < /proc/$$/cmdline > "$1"; test -n "$ACTIVELOOP_TOKEN"`, "sh", argvFile}},
		{name: "status after token login", args: []string{mainName, "status"}},
		{name: "expired from the environment", args: []string{mainName, "token"}, env: []string{"ACTIVELOOP_TOKEN=" + expired}, fails: true},
		{name: "status of an expired token", args: []string{mainName, "status"}, env: []string{"ACTIVELOOP_TOKEN=" + expired}, fails: true},
		{name: "docker get of an expired token", args: []string{dockerName, "get"}, stdin: f.URL, env: []string{"ACTIVELOOP_TOKEN=" + expired}, fails: true},
		{name: "register", args: []string{mainName, "register", "-e", "bob@example.com", "-u", "bob", "--password-stdin"}, stdin: newPassword},
		{name: "register taken", args: []string{mainName, "register", "-e", "bob@example.com", "-u", "bob", "--password-stdin"}, stdin: newPassword, fails: true},
		{name: "logout", args: []string{mainName, "logout"}},
		{name: "token from the plaintext file", args: []string{mainName, "token"}, mayPrint: legacy},
		{name: "status of the plaintext file", args: []string{mainName, "status"}},
		{name: "import", args: []string{mainName, "import", "--remove"}},
		{name: "status after import", args: []string{mainName, "status"}},
		{name: "unreachable server", args: []string{mainName, "login", "--server", "http://127.0.0.1:1", "--token-stdin"}, stdin: token, fails: true},
		{name: "logout all", args: []string{mainName, "logout", "--all"}},
	}
	debugged := 0
	w := watchArgv(secrets)
	for _, s := range steps {
		if s.name == "token from the plaintext file" {
			if err := os.MkdirAll(filepath.Join(home, ".activeloop"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(home, ".activeloop", "token"), []byte(legacy), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, s.args[0]), s.args[1:]...)
		cmd.Env = append(append([]string(nil), env...), s.env...)
		cmd.Dir = root
		cmd.Stdin = strings.NewReader(s.stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if (err != nil) != s.fails {
			t.Errorf("%s: %v (want failure: %v)\nstderr: %s", s.name, err, s.fails, stderr.String())
		}
		if strings.Contains(stderr.String(), "debug: ") {
			debugged++
		}
		for _, secret := range secrets {
			if strings.Contains(stderr.String(), secret) {
				t.Errorf("%s: a secret is on stderr:\n%s", s.name, stderr.String())
			}
			if secret != s.mayPrint && strings.Contains(stdout.String(), secret) {
				t.Errorf("%s: a secret is on stdout:\n%s", s.name, stdout.String())
			}
		}
		if s.mayPrint != "" && !strings.Contains(stdout.String(), s.mayPrint) {
			t.Errorf("%s: stdout %q lacks the answer", s.name, stdout.String())
		}
	}
	if debugged < len(steps)/2 {
		t.Errorf("only %d of %d steps wrote --debug output, which this test means to check too", debugged, len(steps))
	}
	hits, scans := w.finish()
	for _, h := range hits {
		t.Errorf("a process's command line holds a secret: %s", h)
	}
	if scans < len(steps) {
		t.Errorf("the command lines were read only %d times", scans)
	}

	// exec's command: its command line, as it read it itself, has no secret.
	argv, err := os.ReadFile(argvFile)
	if err != nil || !strings.HasPrefix(string(argv), "sh -c ") {
		t.Fatalf("exec's command did not record its command line: %q, %v", argv, err)
	}
	// No file outside the store holds a secret: not the home directory, the
	// temporary directory, the working directory, nor the store's own
	// directory in plain text.
	if _, err := os.Stat(filepath.Join(home, ".activeloop", "token")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("import --remove left the plaintext file: %v", err)
	}
	for _, dir := range []string{root, opts.PassDir, os.Getenv("GNUPGHOME")} {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds a secret", path)
				}
			}
			return nil
		})
	}
}
