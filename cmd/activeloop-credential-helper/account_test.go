//go:build !windows

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/activeloopai/activeloop-credential-helper/internal/activeloop"
	"github.com/activeloopai/activeloop-credential-helper/internal/activeloop/activeloopfake"
	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// testNowEnv sets the helper's clock in the scripts: the test binary, run
// under the helper's names, reads it at start (RFC 3339). Release builds do
// not know it.
const testNowEnv = "ACTIVELOOP_CREDENTIAL_TEST_NOW"

func init() {
	if v := os.Getenv(testNowEnv); v != "" {
		now, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s=%q: %v\n", testNowEnv, v, err)
			os.Exit(2)
		}
		clock = func() time.Time { return now }
	}
}

// scriptNow is the scripts' clock at their start, and the fake server's.
var scriptNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// scriptPassword is the password of every account of the scripts' fake.
const scriptPassword = "correct-horse-battery-staple"

// fakeKey keys the script's fake server in its testscript values.
type fakeKey struct{}

// envNamesKey keys the names of the variables the script started with.
type envNamesKey struct{}

// accountCmds are the script commands of the account scripts; per-OS files
// add theirs.
var accountCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"exits":     cmdExits,
	"writefile": cmdWritefile,
	"bigfile":   cmdBigfile,
	"fakehits":  cmdFakeHits,
	"fakeuser":  cmdFakeUser,
	"fakeauth":  cmdFakeAuth,
}

// TestScriptAccount runs the scripts of the commands for people (login,
// register, logout, token, status, exec, import) against a real password
// store and, for each script, a fake Activeloop server of its own on
// loopback. The helper's clock and the fake's start at scriptNow.
//
// Each script's environment names the fake ($SERVER, also the configured
// server), the password of its accounts ($PASSWORD) and tokens the fake
// signed, at scriptNow: $TOKEN (alice, expires in 30 days), $TOKEN_NOEXP,
// $TOKEN_SOON (in 24 h), $TOKEN_EXPIRED (an hour ago), $TOKEN_BOB,
// $TOKEN_PUBLIC (the anonymous user's JWT), $TOKEN_OLD (the user an
// older server names in "name"), $TOKEN_ANON (a token whose profile is the
// anonymous user's, organizations ["public"]), $PUBLIC_TOKEN (deeplake's
// anonymous PUBLIC_TOKEN_____…), $TOKEN_FORGED (a bad signature), and
// $TOKEN_<BEHAVIOUR> for the fake's misbehaviours (see activeloopfake).
// The fake's accounts: alice (tokens without exp), carol (tokens that
// expire after 24 h) and flaky (502 twice, then served).
func TestScriptAccount(t *testing.T) {
	opts := testenv.Pass(t)
	gnupgHome := os.Getenv("GNUPGHOME")
	p := testscript.Params{
		Dir:                 filepath.Join("testdata", "script_account"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			config := filepath.Join(e.WorkDir, "credential-helper.toml")
			if err := os.WriteFile(config, []byte("# every setting from the environment\n"), 0o600); err != nil {
				return err
			}
			home := filepath.Join(e.WorkDir, "home")
			if err := os.Mkdir(home, 0o700); err != nil {
				return err
			}
			f := activeloopfake.New(func() time.Time { return scriptNow })
			e.Defer(f.Close)
			for _, u := range []activeloopfake.User{
				{Name: "alice", Password: scriptPassword, Email: "alice@example.com"},
				{Name: "carol", Password: scriptPassword, TokenTTL: 24 * time.Hour},
				{Name: "flaky", Password: scriptPassword},
			} {
				f.AddUser(u)
			}
			e.Values[fakeKey{}] = f
			for k, v := range map[string]string{
				"HOME":                                home,
				"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG": config,
				"ACTIVELOOP_CREDENTIAL_BACKEND":       "pass",
				"GNUPGHOME":                           gnupgHome,
				"PASSWORD_STORE_DIR":                  opts.PassDir,
				"ACTIVELOOP_CREDENTIAL_PASS_PREFIX":   "account/" + filepath.Base(e.WorkDir),
				"ACTIVELOOP_CREDENTIAL_SERVER":        f.URL,
				"ACTIVELOOP_CREDENTIAL_API_TIMEOUT":   "20s",
				testNowEnv:                            scriptNow.Format(time.RFC3339),
				"GORACE":                              strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0"),
				"SERVER":                              f.URL,
				"PASSWORD":                            scriptPassword,
				"NOW":                                 scriptNow.Format(time.RFC3339),
				"VERSION":                             getVersion(),
			} {
				e.Setenv(k, v)
			}
			for k, v := range scriptTokens() {
				e.Setenv(k, v)
			}
			var names []string
			for _, kv := range e.Vars {
				k, _, _ := strings.Cut(kv, "=")
				names = append(names, k)
			}
			e.Values[envNamesKey{}] = names
			return nil
		},
		Cmds: accountCmds,
	}
	testscript.Run(t, p)
}

// scriptTokens are the tokens the scripts name, signed by the fake.
func scriptTokens() map[string]string {
	day := 24 * time.Hour
	toks := map[string]string{
		"TOKEN":         activeloopfake.Token("alice", scriptNow.Add(30*day)),
		"TOKEN_NOEXP":   activeloopfake.Token("alice", time.Time{}),
		"TOKEN_SOON":    activeloopfake.Token("alice", scriptNow.Add(day)),
		"TOKEN_EXPIRED": activeloopfake.Token("alice", scriptNow.Add(-time.Hour)),
		"TOKEN_BOB":     activeloopfake.Token("bob", scriptNow.Add(30*day)),
		"TOKEN_PUBLIC":  activeloopfake.Token("public", time.Time{}),
		"TOKEN_OLD":     activeloopfake.Token("oldserver-user", scriptNow.Add(30*day)),
		"TOKEN_ANON":    activeloopfake.Token("anon", time.Time{}),
		"PUBLIC_TOKEN":  activeloop.PublicTokenPrefix + strings.Repeat("_", 150),
	}
	forged := []byte(toks["TOKEN"])
	forged[len(forged)-2] ^= 1
	toks["TOKEN_FORGED"] = string(forged)
	for _, b := range []string{"forbidden", "ratelimited", "broken", "flaky", "down", "silent", "garbled", "echo"} {
		toks["TOKEN_"+strings.ToUpper(b)] = activeloopfake.Token(b, time.Time{})
	}
	return toks
}

func scriptFake(ts *testscript.TestScript) *activeloopfake.Server {
	return ts.Value(fakeKey{}).(*activeloopfake.Server)
}

// cmdFakeHits checks how many requests the script's fake has had for a
// path, or for every path with '*':
//
//	fakehits /api/user/profile 0
func cmdFakeHits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: fakehits path count")
	}
	want, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("fakehits: bad count %q", args[1])
	}
	got := 0
	for _, r := range scriptFake(ts).Requests() {
		if args[0] == "*" || r.Path == args[0] {
			got++
		}
	}
	if got != want {
		ts.Fatalf("the fake had %d requests for %s, want %d", got, args[0], want)
	}
}

// cmdFakeUser checks that the fake has (or, negated, has not) an account:
//
//	fakeuser dave
func cmdFakeUser(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: [!] fakeuser name")
	}
	if got := scriptFake(ts).HasUser(args[0]); got == neg {
		ts.Fatalf("the fake has account %s: %v", args[0], got)
	}
}

// cmdFakeAuth checks what every request to the script's fake carried: the
// User-Agent, and an Authorization header only on the profile call, as a
// Bearer token:
//
//	fakeauth activeloop-credential-helper/$VERSION
func cmdFakeAuth(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fakeauth user-agent")
	}
	reqs := scriptFake(ts).Requests()
	if len(reqs) == 0 {
		ts.Fatalf("the fake had no requests")
	}
	for _, r := range reqs {
		if r.UserAgent != args[0] {
			ts.Fatalf("%s %s: User-Agent %q, want %q", r.Method, r.Path, r.UserAgent, args[0])
		}
		bearer := strings.HasPrefix(r.Authorization, "Bearer ") && len(r.Authorization) > len("Bearer ")
		if want := r.Path == "/api/user/profile"; bearer != want || (!want && r.Authorization != "") {
			ts.Fatalf("%s %s: Authorization %q", r.Method, r.Path, r.Authorization)
		}
	}
}

// scriptEnv is the script's environment now: the variables it started with
// and those the account scripts change, as the script has them.
func scriptEnv(ts *testscript.TestScript) []string {
	names, _ := ts.Value(envNamesKey{}).([]string)
	names = append(slices.Clone(names), "ACTIVELOOP_TOKEN", "ACTIVELOOP_CREDENTIAL_WARN_BEFORE")
	var env []string
	seen := map[string]bool{}
	for _, n := range names {
		if v := ts.Getenv(n); v != "" && !seen[n] {
			seen[n] = true
			env = append(env, n+"="+v)
		}
	}
	return env
}

// scriptCommand is a program of the script, to run outside testscript's exec.
func scriptCommand(ts *testscript.TestScript, args []string) *exec.Cmd {
	path, err := exec.LookPath(args[0])
	if err != nil {
		ts.Fatalf("%v", err)
	}
	cmd := exec.Command(path, args[1:]...)
	cmd.Env = scriptEnv(ts)
	cmd.Dir = ts.MkAbs(".")
	return cmd
}
