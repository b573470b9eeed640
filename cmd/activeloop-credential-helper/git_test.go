//go:build linux

package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// git end to end: the scripts of testdata/script_git (the protocol under
// git's name, setup, and `git credential` from them), git's own helper test
// suite run through the real git, and a real clone over HTTP.

const gitTimeout = time.Minute

// TestScriptGit runs the scripts of testdata/script_git against a real
// password store, each script under a pass prefix of its own.
func TestScriptGit(t *testing.T) {
	requireGit(t)
	opts := testenv.Pass(t)
	gnupgHome := os.Getenv("GNUPGHOME")
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script_git"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			config := filepath.Join(e.WorkDir, "credential-helper.toml")
			if err := os.WriteFile(config, []byte("# every setting from the environment\n"), 0o600); err != nil {
				return err
			}
			e.Setenv("ACTIVELOOP_CREDENTIAL_HELPER_CONFIG", config)
			e.Setenv("ACTIVELOOP_CREDENTIAL_BACKEND", "pass")
			e.Setenv("BACKEND", "pass")
			e.Setenv("GNUPGHOME", gnupgHome)
			e.Setenv("PASSWORD_STORE_DIR", opts.PassDir)
			e.Setenv("ACTIVELOOP_CREDENTIAL_PASS_PREFIX", "git-scripts/"+filepath.Base(e.WorkDir))
			e.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":     cmdExits,
			"writefile": cmdWritefile,
			"bigfile":   cmdBigfile,
		},
	})
}

func requireGit(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed: apt-get install -y git")
	}
	return path
}

// gitEnv is a home of its own, a password store, and the built helper on
// PATH under git's name: what a person has once the helper is installed.
type gitEnv struct {
	git, bin, home string
	env            []string
}

func newGitEnv(t *testing.T) *gitEnv {
	t.Helper()
	gitPath := requireGit(t)
	opts := testenv.Pass(t)
	built := builtHelper(t)
	tmp := t.TempDir()
	g := &gitEnv{git: gitPath, bin: filepath.Join(tmp, "bin"), home: filepath.Join(tmp, "home")}
	for _, dir := range []string{g.bin, g.home} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	g.env = []string{
		"HOME=" + g.home,
		"XDG_CONFIG_HOME=" + filepath.Join(g.home, ".config"),
		"PATH=" + g.bin + string(os.PathListSeparator) + built + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"LANG=C",
		"LC_ALL=C",
		"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + emptyConfig(t),
		"ACTIVELOOP_CREDENTIAL_BACKEND=pass",
		"ACTIVELOOP_CREDENTIAL_PASS_DIR=" + opts.PassDir,
		"GNUPGHOME=" + os.Getenv("GNUPGHOME"),
		"PASSWORD_STORE_DIR=" + os.Getenv("PASSWORD_STORE_DIR"),
	}
	return g
}

// link puts git-credential-activeloop on PATH, as packages install it.
func (g *gitEnv) link(t *testing.T) {
	t.Helper()
	if err := os.Symlink(filepath.Join(builtHelper(t), mainName), filepath.Join(g.bin, gitName)); err != nil {
		t.Fatal(err)
	}
}

func (g *gitEnv) run(t *testing.T, stdin string, args ...string) commandResult {
	t.Helper()
	r := runProgram(t, gitTimeout, g.git, args, stdin, g.env)
	r.args = "git " + strings.Join(args, " ")
	return r
}

func (g *gitEnv) helper(t *testing.T, name, stdin string, args ...string) commandResult {
	t.Helper()
	r := runProgram(t, gitTimeout, filepath.Join(builtHelper(t), name), args, stdin, g.env)
	r.args = name + " " + strings.Join(args, " ")
	return r
}

// askpass is lib-credential.sh's: it shows the prompt on stderr and answers
// askpass-username or askpass-password.
const askpass = `#!/bin/sh
echo >&2 askpass: $*
what=$(echo $1 | cut -d" " -f1 | tr A-Z a-z | tr -cd a-z)
echo "askpass-$what"
`

// credCheck is one `check` of git's t/lib-credential.sh: git credential OP
// with the helper, its input, and for fill the expected stdout and stderr.
type credCheck struct {
	op          string
	in          string
	out, stderr string
	config      []string // more -c options
}

// TestGitCredentialHelperSuite runs the cases of helper_test in git's
// t/lib-credential.sh with the real git and credential.helper=activeloop,
// each as git's suite writes it. One case differs by design: the helper
// keeps one account per server (SPEC §3), so a second user's approve
// replaces the first's; a fill for the first then asks for a password and
// never gets the second user's.
func TestGitCredentialHelperSuite(t *testing.T) {
	g := newGitEnv(t)
	g.link(t)
	askpassPath := filepath.Join(t.TempDir(), "askpass")
	if err := os.WriteFile(askpassPath, []byte(askpass), 0o700); err != nil {
		t.Fatal(err)
	}
	g.env = append(g.env, "GIT_ASKPASS="+askpassPath)

	const (
		example   = "protocol=https\nhost=example.com\n"
		askUser   = "askpass: Username for 'https://example.com':\n"
		askPass   = "askpass: Password for 'https://askpass-username@example.com':\n"
		askedFull = example + "username=askpass-username\npassword=askpass-password\n"
	)
	cases := []struct {
		name   string
		checks []credCheck
	}{
		{"has no existing data", []credCheck{
			{op: "fill", in: example, out: askedFull, stderr: askUser + askPass},
		}},
		{"stores password", []credCheck{
			{op: "approve", in: example + "username=store-user\npassword=store-pass\n"},
		}},
		{"can retrieve password", []credCheck{
			{op: "fill", in: example, out: example + "username=store-user\npassword=store-pass\n"},
		}},
		{"requires matching protocol", []credCheck{
			{op: "fill", in: "protocol=http\nhost=example.com\n",
				out:    "protocol=http\nhost=example.com\nusername=askpass-username\npassword=askpass-password\n",
				stderr: "askpass: Username for 'http://example.com':\naskpass: Password for 'http://askpass-username@example.com':\n"},
		}},
		{"requires matching host", []credCheck{
			{op: "fill", in: "protocol=https\nhost=other.tld\n",
				out:    "protocol=https\nhost=other.tld\nusername=askpass-username\npassword=askpass-password\n",
				stderr: "askpass: Username for 'https://other.tld':\naskpass: Password for 'https://askpass-username@other.tld':\n"},
		}},
		{"requires matching username", []credCheck{
			{op: "fill", in: example + "username=other\n",
				out:    example + "username=other\npassword=askpass-password\n",
				stderr: "askpass: Password for 'https://other@example.com':\n"},
		}},
		{"requires matching path", []credCheck{
			{op: "approve", config: []string{"credential.usehttppath=true"},
				in: "protocol=http\nhost=path.tld\npath=foo.git\nusername=user\npassword=pass\n"},
			{op: "fill", config: []string{"credential.usehttppath=true"},
				in:     "protocol=http\nhost=path.tld\npath=bar.git\n",
				out:    "protocol=http\nhost=path.tld\npath=bar.git\nusername=askpass-username\npassword=askpass-password\n",
				stderr: "askpass: Username for 'http://path.tld/bar.git':\naskpass: Password for 'http://askpass-username@path.tld/bar.git':\n"},
			{op: "fill", config: []string{"credential.usehttppath=true"},
				in:  "protocol=http\nhost=path.tld\npath=foo.git\n",
				out: "protocol=http\nhost=path.tld\npath=foo.git\nusername=user\npassword=pass\n"},
		}},
		{"overwrites on store", []credCheck{
			{op: "approve", in: example + "username=user8\npassword=pass1\n"},
			{op: "approve", in: example + "username=user8\npassword=pass2\n"},
			{op: "fill", in: example + "username=user8\n", out: example + "username=user8\npassword=pass2\n"},
			{op: "reject", in: example + "username=user8\npassword=pass2\n"},
			{op: "fill", in: example + "username=user8\n",
				out:    example + "username=user8\npassword=askpass-password\n",
				stderr: "askpass: Password for 'https://user8@example.com':\n"},
		}},
		{"can forget host", []credCheck{
			{op: "approve", in: example + "username=store-user\npassword=store-pass\n"},
			{op: "reject", in: example},
			{op: "fill", in: example, out: askedFull, stderr: askUser + askPass},
		}},
		{"second user replaces the first", []credCheck{
			{op: "approve", in: example + "username=user1\npassword=pass1\n"},
			{op: "approve", in: example + "username=user2\npassword=pass2\n"},
			{op: "fill", in: example + "username=user1\n",
				out:    example + "username=user1\npassword=askpass-password\n",
				stderr: "askpass: Password for 'https://user1@example.com':\n"},
			{op: "fill", in: example + "username=user2\n", out: example + "username=user2\npassword=pass2\n"},
		}},
		{"can forget user", []credCheck{
			{op: "reject", in: example + "username=user1\n"},
			{op: "fill", in: example + "username=user1\n",
				out:    example + "username=user1\npassword=askpass-password\n",
				stderr: "askpass: Password for 'https://user1@example.com':\n"},
		}},
		{"remembers other user", []credCheck{
			{op: "fill", in: example + "username=user2\n", out: example + "username=user2\npassword=pass2\n"},
		}},
		{"does not erase a password distinct from input", []credCheck{
			{op: "approve", in: example + "username=user-distinct-pass\npassword=pass1\n"},
			{op: "reject", in: example + "username=user-distinct-pass\npassword=pass2\n"},
			{op: "fill", in: example + "username=user-distinct-pass\n", out: example + "username=user-distinct-pass\npassword=pass1\n"},
		}},
		{"erases all matching credentials", []credCheck{
			{op: "approve", in: example + "username=user1\npassword=pass1\n"},
			{op: "approve", in: example + "username=user2\npassword=pass1\n"},
			{op: "reject", in: example},
			{op: "fill", in: example, out: askedFull, stderr: askUser + askPass},
		}},
		{"can store empty username", []credCheck{
			{op: "approve", in: "protocol=https\nhost=sso.tld\nusername=\npassword=\n"},
			{op: "fill", in: "protocol=https\nhost=sso.tld\n", out: "protocol=https\nhost=sso.tld\nusername=\npassword=\n"},
		}},
		{"not confused by long header", []credCheck{
			{op: "approve", in: "protocol=https\nhost=victim.example.com\nusername=user1\npassword=victim\nwwwauth[]=" + strings.Repeat("a", 1001) + "\n"},
			{op: "fill", in: "protocol=https\nhost=badguy.example.com\nwwwauth[]=" + strings.Repeat("a", 1001) + "\n",
				out:    "protocol=https\nhost=badguy.example.com\nusername=askpass-username\npassword=askpass-password\n",
				stderr: "askpass: Username for 'https://badguy.example.com':\naskpass: Password for 'https://askpass-username@badguy.example.com':\n"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, chk := range c.checks {
				args := []string{"-c", "credential.helper=activeloop"}
				for _, cfg := range chk.config {
					args = append(args, "-c", cfg)
				}
				r := g.run(t, chk.in, append(args, "credential", chk.op)...)
				if r.code != 0 || r.stdout != chk.out || r.stderr != chk.stderr {
					t.Fatalf("git credential %s with\n%s\n%s\nwant stdout %q, stderr %q", chk.op, chk.in, r, chk.out, chk.stderr)
				}
			}
		})
	}
}

// gitServer serves a repository with git http-backend behind basic
// authentication, on loopback, and records every login attempt.
type gitServer struct {
	*httptest.Server
	user string

	mu       sync.Mutex
	password string
	attempts []string // "user:password-ok" per request with credentials
}

func newGitServer(t *testing.T, root, user, password string) *gitServer {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend is needed: apt-get install -y git (%v)", err)
	}
	s := &gitServer{user: user, password: password}
	cgiHandler := &cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		s.mu.Lock()
		good := ok && u == s.user && p == s.password
		if ok {
			s.attempts = append(s.attempts, fmt.Sprintf("%s:%v", u, good))
		}
		s.mu.Unlock()
		if !good {
			w.Header().Set("WWW-Authenticate", `Basic realm="Deep Lake"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		cgiHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *gitServer) setPassword(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.password = p
}

func (s *gitServer) takeAttempts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.attempts
	s.attempts = nil
	return a
}

// TestGitCloneOverHTTP clones from a server that wants basic authentication,
// with the credentials from the helper alone: set up with `setup git`, the
// token stored through the docker protocol, no prompt possible. When the
// server refuses the token, git's reject erases it.
func TestGitCloneOverHTTP(t *testing.T) {
	g := newGitEnv(t)
	root := t.TempDir()
	src := filepath.Join(t.TempDir(), "src")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", src},
		{"-C", src, "-c", "user.name=Alice", "-c", "user.email=alice@example.invalid", "commit", "-q", "--allow-empty", "-m", "first"},
		{"clone", "-q", "--bare", src, filepath.Join(root, "repo.git")},
	} {
		if r := g.run(t, "", args...); r.code != 0 {
			t.Fatalf("%s", r)
		}
	}
	token := "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","exp":4102444800}`)) + ".c2ln"
	srv := newGitServer(t, root, "alice", token)
	serverURL := srv.URL // http://127.0.0.1:PORT
	repo := serverURL + "/repo.git"

	// setup git, as a person does once.
	if r := g.helper(t, mainName, "", "--server", serverURL, "setup", "git", "--bin-dir", g.bin); r.code != 0 || !strings.Contains(r.stdout, "+ credential."+serverURL+".helper = activeloop") {
		t.Fatalf("setup git: %s", r)
	}

	clone := func(t *testing.T, dir string, extra ...string) commandResult {
		t.Helper()
		return g.run(t, "", append(extra, "clone", "-q", repo, filepath.Join(t.TempDir(), dir))...)
	}

	// Nothing stored: git cannot prompt, and fails at once.
	r := clone(t, "none")
	if r.code == 0 || !strings.Contains(r.stderr, "terminal prompts disabled") {
		t.Fatalf("clone with nothing stored: want a failure for want of a prompt: %s", r)
	}
	if a := srv.takeAttempts(); len(a) != 0 {
		t.Fatalf("credentials sent with nothing stored: %q", a)
	}

	// The token stored through docker's protocol: git finds it.
	store := fmt.Sprintf(`{"ServerURL":%q,"Username":"alice","Secret":%q}`, serverURL, token)
	if r := g.helper(t, dockerName, store, "store"); r.code != 0 {
		t.Fatalf("docker store: %s", r)
	}
	r = clone(t, "ok")
	if r.code != 0 {
		t.Fatalf("clone with the stored token: %s", r)
	}
	if a := srv.takeAttempts(); len(a) == 0 || a[0] != "alice:true" {
		t.Errorf("the server saw %q; want alice with the right token", a)
	}
	// With credential.useHttpPath git asks for the repository's path: the
	// server's token is found by prefix.
	if r := clone(t, "path", "-c", "credential.useHttpPath=true"); r.code != 0 {
		t.Fatalf("clone with credential.useHttpPath: %s", r)
	}
	srv.takeAttempts()
	// git stored back what it was given: the entry is the docker one still.
	if r := g.helper(t, dockerName, serverURL, "get"); r.code != 0 || r.stdout != dockerCredentialsJSON(serverURL, "alice", token) {
		t.Errorf("docker get after the clones: exit status %d, %d bytes", r.code, len(r.stdout))
	}

	// The server refuses the token: git rejects it, and the helper erases it.
	srv.setPassword("rotated")
	r = clone(t, "refused")
	if r.code == 0 || !strings.Contains(r.stderr, "Authentication failed") {
		t.Fatalf("clone with a refused token: want an authentication failure: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, token) {
		t.Errorf("the token is in git's output")
	}
	if a := srv.takeAttempts(); len(a) != 1 || a[0] != "alice:false" {
		t.Errorf("the server saw %q; want one refused attempt", a)
	}
	if r := g.helper(t, dockerName, serverURL, "get"); r.code != 1 || r.stdout != dockerNotFoundMsg+"\n" {
		t.Errorf("docker get after the refusal: want the entry erased: %s", r)
	}
	r = clone(t, "after")
	if r.code == 0 || !strings.Contains(r.stderr, "terminal prompts disabled") {
		t.Errorf("clone after the erase: %s", r)
	}
	if a := srv.takeAttempts(); len(a) != 0 {
		t.Errorf("credentials sent after the erase: %q", a)
	}

	// A new token, approved through git, and the clone works again.
	srv.setPassword("new-" + token)
	approve := fmt.Sprintf("url=%s\nusername=alice\npassword=new-%s\n", serverURL, token)
	if r := g.run(t, approve, "credential", "approve"); r.code != 0 {
		t.Fatalf("git credential approve: %s", r)
	}
	if r := clone(t, "again"); r.code != 0 {
		t.Fatalf("clone after approve: %s", r)
	}
}
