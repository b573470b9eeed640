//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
	"github.com/activeloopai/activeloop-credential-helper/store"
)

// The docker CLI end to end: `docker login` and `docker logout` against a real
// registry, with docker-credential-activeloop as the credential store of
// docker's config.json, on real secure stores.
//
// No docker daemon runs. `docker login -u USER --password-stdin` then checks
// the password itself, against the registry (loginClientSide in docker/cli).
// `docker login` with stored credentials has no such fallback: it always asks
// the daemon's /auth endpoint. For that step the test runs a stand-in daemon
// that checks what the CLI sends against the registry, the way dockerd does.

const (
	dockerCLITimeout  = time.Minute
	dockerHelperWait  = 30 * time.Second
	dockerNotFoundMsg = "credentials not found in native keychain"
	dockerNoTTYMsg    = "Cannot perform an interactive login from a non TTY device"
	dockerStoredMsg   = "Authenticating with existing credentials..."
	dockerSucceeded   = "Login Succeeded"
)

func TestDockerCLI(t *testing.T) {
	dockerPath, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("the docker CLI is needed: apt-get install -y docker-ce-cli (or docker.io)")
	}
	bin := builtHelper(t)
	addr, user, password := testenv.Registry(t)
	daemon := newStandInDaemon(t, addr)

	backends := []struct {
		name  string
		setup func(testing.TB) store.Options
	}{
		{"pass", testenv.Pass},
		{"keyctl", testenv.Keyctl}, // the user keyring, keyctl's default scope
		{"keyctl-session", privateSessionKeyring},
	}
	configs := []struct {
		name string
		json string
	}{
		{"credsStore", `{"credsStore": "activeloop"}`},
		{"credHelpers", fmt.Sprintf(`{"credHelpers": {%q: "activeloop"}}`, addr)},
	}
	for _, b := range backends {
		for _, c := range configs {
			t.Run(b.name+"/"+c.name, func(t *testing.T) {
				backend, _, _ := strings.Cut(b.name, "-")
				d := newDockerCLIEnv(t, dockerPath, bin, backend, b.setup(t), c.json)
				d.addr, d.user, d.password, d.daemon = addr, user, password, daemon
				d.run(t)
			})
		}
	}
}

// privateSessionKeyring gives every program the calling test starts a new
// session keyring of its own, and returns the keyctl backend's options for it.
// The helper's items then live in that keyring only: the user keyring, which
// every process of the user shares, is left alone, and tests running at the
// same time cannot see or erase one another's items.
//
// The kernel keeps the session keyring in the credentials of one thread, and
// children inherit those of the thread that forks them: the test's goroutine
// stays on this thread, and the thread ends with it, taking the keyring along.
func privateSessionKeyring(t testing.TB) store.Options {
	t.Helper()
	runtime.LockOSThread() // never unlocked: see above
	if _, _, errno := unix.RawSyscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); errno != 0 {
		t.Fatalf("the kernel keyring is not usable here (joining a new session keyring: %v): a container needs the keyctl and add_key system calls allowed by its seccomp profile", errno)
	}
	return store.Options{KeyctlScope: "session"}
}

// dockerCLIEnv is one docker configuration and one secure store.
type dockerCLIEnv struct {
	docker, helper string // the docker CLI and our helper, by path
	configDir      string // DOCKER_CONFIG
	config         string // config.json as the test wrote it
	env            []string
	noDaemon       string // DOCKER_HOST of a socket nobody listens on

	addr, user, password string
	daemon               *standInDaemon
}

func newDockerCLIEnv(t *testing.T, dockerPath, binDir, backend string, opts store.Options, config string) *dockerCLIEnv {
	t.Helper()
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	configDir := filepath.Join(tmp, "docker")
	for _, dir := range []string{home, configDir} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(configDir, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty config file: every setting from the environment below.
	helperConfig := filepath.Join(tmp, "credential-helper.toml")
	if err := os.WriteFile(helperConfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"HOME=" + home,
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"DOCKER_CONFIG=" + configDir,
		"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + helperConfig,
		"ACTIVELOOP_CREDENTIAL_BACKEND=" + backend,
		"LANG=C.UTF-8",
	}
	// The store's own variables, set by its testenv setup.
	for _, name := range []string{"GNUPGHOME", "PASSWORD_STORE_DIR"} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	if opts.PassDir != "" {
		env = append(env, "ACTIVELOOP_CREDENTIAL_PASS_DIR="+opts.PassDir)
	}
	if opts.KeyctlScope != "" {
		env = append(env, "ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE="+opts.KeyctlScope)
	}
	return &dockerCLIEnv{
		docker:    dockerPath,
		helper:    filepath.Join(binDir, dockerName),
		configDir: configDir,
		config:    config,
		env:       env,
		noDaemon:  "unix://" + filepath.Join(tmp, "no-daemon.sock"),
	}
}

func (d *dockerCLIEnv) run(t *testing.T) {
	if got := d.helperRun(t, "list", ""); got.code != 0 || got.stdout != "{}\n" {
		t.Fatalf("list before any login: %s", got)
	}
	want := dockerCredentialsJSON(d.addr, d.user, d.password)

	// Login with a username and a password on stdin stores them through the
	// helper and not in config.json.
	got := d.dockerRun(t, d.password+"\n", d.noDaemon, "login", d.addr, "-u", d.user, "--password-stdin")
	if got.code != 0 || !strings.Contains(got.stdout, dockerSucceeded) {
		t.Fatalf("docker login -u %s --password-stdin: %s", d.user, got)
	}
	d.checkConfig(t, true)
	d.checkStored(t, "after docker login", want)

	// A wrong password is refused by the registry and stores nothing.
	got = d.dockerRun(t, "wrong-"+d.password+"\n", d.noDaemon, "login", d.addr, "-u", d.user, "--password-stdin")
	if got.code == 0 || !strings.Contains(got.stderr, "401 Unauthorized") {
		t.Errorf("docker login with a wrong password: want a 401 failure: %s", got)
	}
	d.checkConfig(t, true)
	d.checkStored(t, "after a failed docker login", want)

	// Login without a username reads the stored credentials back. Without a
	// daemon the CLI shows whose they are, then has nobody to check them
	// with and wants a terminal to prompt on.
	got = d.dockerRun(t, "", d.noDaemon, "login", d.addr)
	if !strings.Contains(got.output(), dockerStoredMsg+" [Username: "+d.user+"]") {
		t.Errorf("docker login without -u, no daemon: want the stored username shown: %s", got)
	}
	t.Logf("docker login without -u and no daemon exits %d (docker asks only the daemon to check stored credentials)", got.code)
	d.checkStored(t, "after docker login without -u and no daemon", want)

	// With a daemon to check them, the stored credentials log in with no
	// terminal and nothing on stdin.
	d.daemon.reset()
	got = d.dockerRun(t, "", d.daemon.host(), "login", d.addr)
	if got.code != 0 || !strings.Contains(got.output(), dockerStoredMsg+" [Username: "+d.user+"]") || !strings.Contains(got.stdout, dockerSucceeded) {
		t.Errorf("docker login without -u, from the stored credentials: %s", got)
	}
	if logins := d.daemon.takeLogins(); len(logins) != 1 || logins[0] != (registryLogin{Username: d.user, Password: d.password, ServerAddress: d.addr}) {
		t.Errorf("the daemon was asked to log in with %+v; want once as %s at %s with the stored password", logins, d.user, d.addr)
	}
	d.checkConfig(t, true)
	d.checkStored(t, "after docker login from the stored credentials", want)

	// Other registries are never answered with this one's credentials, and
	// logging out of them leaves it alone.
	other := []string{
		"localhost:" + portOf(d.addr),
		"127.0.0.1:1",
		"127.0.0.1",
		"127.0.0.10:" + portOf(d.addr),
	}
	for _, o := range other {
		d.daemon.reset()
		got = d.dockerRun(t, "", d.daemon.host(), "login", o)
		if got.code == 0 || strings.Contains(got.output(), dockerStoredMsg) || !strings.Contains(got.stderr, dockerNoTTYMsg) {
			t.Errorf("docker login %s without -u: want no stored credentials found, and no terminal to prompt on: %s", o, got)
		}
		if logins := d.daemon.takeLogins(); len(logins) != 0 {
			t.Errorf("docker login %s: the daemon was asked to log in with %+v", o, logins)
		}
		got = d.dockerRun(t, "", d.noDaemon, "logout", o)
		if got.code != 0 {
			t.Errorf("docker logout %s: %s", o, got)
		}
		d.checkStored(t, "after docker logout "+o, want)
	}
	d.checkConfig(t, true)

	// Logout erases the entry.
	got = d.dockerRun(t, "", d.noDaemon, "logout", d.addr)
	if got.code != 0 {
		t.Fatalf("docker logout %s: %s", d.addr, got)
	}
	if got := d.helperRun(t, "get", d.addr); got.code != 1 || got.stdout != dockerNotFoundMsg+"\n" {
		t.Errorf("get after docker logout: want %q and exit status 1: %s", dockerNotFoundMsg, got)
	}
	if got := d.helperRun(t, "list", ""); got.code != 0 || got.stdout != "{}\n" {
		t.Errorf("list after docker logout: want {}: %s", got)
	}
	d.checkConfig(t, false)
}

// checkStored runs the helper's list and get directly and wants exactly the
// one entry the docker CLI stored.
func (d *dockerCLIEnv) checkStored(t *testing.T, when, want string) {
	t.Helper()
	wantList, _ := json.Marshal(map[string]string{d.addr: d.user})
	if got := d.helperRun(t, "list", ""); got.code != 0 || got.stdout != string(wantList)+"\n" {
		t.Errorf("list %s: want %s: %s", when, wantList, got)
	}
	// Compared without printing the secret.
	if got := d.helperRun(t, "get", d.addr); got.code != 0 || got.stdout != want {
		var c struct{ ServerURL, Username string }
		json.Unmarshal([]byte(got.stdout), &c)
		t.Errorf("get %s %s: want the stored username %s and secret; got exit status %d, ServerURL %q, Username %q, stdout of %d bytes, stderr %q",
			d.addr, when, d.user, got.code, c.ServerURL, c.Username, len(got.stdout), got.stderr)
	}
}

// checkConfig reads config.json as the docker CLI left it: the helper is
// still configured, and no secret is in the file. loggedIn says whether the
// registry should be listed in "auths" (the CLI lists it there, empty, while
// the helper holds its credentials).
func (d *dockerCLIEnv) checkConfig(t *testing.T, loggedIn bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.configDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths       map[string]map[string]any `json:"auths"`
		CredsStore  string                    `json:"credsStore"`
		CredHelpers map[string]string         `json:"credHelpers"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config.json: %v\n%s", err, b)
	}
	var wrote struct {
		CredsStore  string            `json:"credsStore"`
		CredHelpers map[string]string `json:"credHelpers"`
	}
	json.Unmarshal([]byte(d.config), &wrote)
	if cfg.CredsStore != wrote.CredsStore || fmt.Sprint(cfg.CredHelpers) != fmt.Sprint(wrote.CredHelpers) {
		t.Errorf("config.json lost its credential helper settings:\n%s", b)
	}
	for server, entry := range cfg.Auths {
		for _, field := range []string{"auth", "username", "password", "identitytoken", "registrytoken"} {
			if _, ok := entry[field]; ok {
				t.Errorf("config.json holds %q for %s; want the credentials in the helper only", field, server)
			}
		}
	}
	if _, ok := cfg.Auths[d.addr]; ok != loggedIn {
		t.Errorf("config.json lists %s in auths: %v, want %v:\n%s", d.addr, ok, loggedIn, redactAuth(b))
	}
}

// redactAuth hides any "auth" value, so that a failing test prints no secret.
func redactAuth(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return "(unparsable)"
	}
	var walk func(any)
	walk = func(v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				switch k {
				case "auth", "password", "identitytoken", "registrytoken":
					m[k] = "(redacted)"
				default:
					walk(x)
				}
			}
		}
	}
	walk(v)
	out, _ := json.Marshal(v)
	return string(out)
}

func dockerCredentialsJSON(server, user, secret string) string {
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(struct{ ServerURL, Username, Secret string }{server, user, secret})
	return buf.String()
}

func portOf(addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	return port
}

// commandResult is what one program run gave back.
type commandResult struct {
	args           string
	stdout, stderr string
	code           int
	took           time.Duration
}

// output is stdout and stderr together: docker CLI versions differ in where
// they print some messages.
func (r commandResult) output() string { return r.stdout + r.stderr }

func (r commandResult) String() string {
	return fmt.Sprintf("%s: exit status %d after %s\nstdout: %q\nstderr: %q", r.args, r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// dockerRun runs the docker CLI with stdin (closed when empty), no terminal,
// and DOCKER_HOST set to host.
func (d *dockerCLIEnv) dockerRun(t *testing.T, stdin, host string, args ...string) commandResult {
	t.Helper()
	r := runProgram(t, dockerCLITimeout, d.docker, args, stdin, append(d.env[:len(d.env):len(d.env)], "DOCKER_HOST="+host))
	r.args = "docker " + strings.Join(args, " ")
	if host != d.noDaemon {
		r.args += " (with a daemon)"
	}
	t.Logf("%s: exit status %d, %s", r.args, r.code, r.took.Round(100*time.Microsecond))
	return r
}

// helperRun runs docker-credential-activeloop VERB directly, as the docker
// CLI does.
func (d *dockerCLIEnv) helperRun(t *testing.T, verb, stdin string) commandResult {
	t.Helper()
	r := runProgram(t, dockerHelperWait, d.helper, []string{verb}, stdin, d.env)
	r.args = dockerName + " " + verb
	return r
}

func runProgram(t *testing.T, timeout time.Duration, path string, args []string, stdin string, env []string) commandResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	// A session of its own: no controlling terminal for anything to prompt
	// on, however the test itself is run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := commandResult{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s did not finish within %s\nstdout: %q\nstderr: %q", filepath.Base(path), strings.Join(args, " "), timeout, r.stdout, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", path, err)
	}
	return r
}

// registryLogin is the body of the docker Engine API's POST /auth.
type registryLogin struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	ServerAddress string `json:"serveraddress"`
}

// standInDaemon answers the two docker Engine API calls of `docker login`:
// the version ping, and /auth, which it checks against the registry the way
// dockerd does, with the credentials the CLI sends.
type standInDaemon struct {
	srv      *httptest.Server
	registry string

	mu         sync.Mutex
	logins     []registryLogin
	unexpected []string
}

func newStandInDaemon(t *testing.T, registry string) *standInDaemon {
	d := &standInDaemon{registry: registry}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(func() {
		d.srv.Close()
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.unexpected) > 0 {
			t.Errorf("the docker CLI made requests a login does not need: %q", d.unexpected)
		}
	})
	return d
}

func (d *standInDaemon) host() string { return "tcp://" + d.srv.Listener.Addr().String() }

func (d *standInDaemon) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.logins = nil
}

func (d *standInDaemon) takeLogins() []registryLogin {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.logins
	d.logins = nil
	return l
}

func (d *standInDaemon) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.50")
	w.Header().Set("Ostype", "linux")
	switch {
	case strings.HasSuffix(r.URL.Path, "/_ping"):
		w.Write([]byte("OK"))
	case strings.HasSuffix(r.URL.Path, "/auth") && r.Method == http.MethodPost:
		var l registryLogin
		if err := json.NewDecoder(r.Body).Decode(&l); err != nil {
			http.Error(w, `{"message":"malformed auth request"}`, http.StatusBadRequest)
			return
		}
		d.mu.Lock()
		d.logins = append(d.logins, l)
		d.mu.Unlock()
		status, err := d.check(r.Context(), l)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"Status": dockerSucceeded})
	default:
		d.mu.Lock()
		d.unexpected = append(d.unexpected, r.Method+" "+r.URL.Path)
		d.mu.Unlock()
		http.Error(w, `{"message":"not served by the test daemon"}`, http.StatusNotImplemented)
	}
}

// check logs in to the registry with l, as dockerd's /auth does.
func (d *standInDaemon) check(ctx context.Context, l registryLogin) (int, error) {
	if l.ServerAddress != d.registry {
		return http.StatusNotFound, fmt.Errorf("the test daemon knows only the registry %s", d.registry)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.registry+"/v2/", nil)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	req.SetBasicAuth(l.Username, l.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return http.StatusBadGateway, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return http.StatusUnauthorized, fmt.Errorf("login attempt to http://%s/v2/ failed with status: %s", d.registry, resp.Status)
	}
	return http.StatusOK, nil
}
