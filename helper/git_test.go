package helper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

func git(t *testing.T, h *Helper, op, in string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := h.Git(context.Background(), op, strings.NewReader(in), &out)
	return out.String(), err
}

// mustGit runs an operation that must succeed and returns its output.
func mustGit(t *testing.T, h *Helper, op, in string) string {
	t.Helper()
	out, err := git(t, h, op, in)
	if err != nil {
		t.Fatalf("%s:\n%s\nerror: %v", op, in, err)
	}
	return out
}

// The cases of git's own helper test suite, helper_test in
// t/lib-credential.sh, at the protocol level: what `git credential`
// sends a helper, and what the helper must answer. The same cases run with
// the real git in the command's tests.
func TestGitHelperSuite(t *testing.T) {
	h, _ := newTestHelper(t)
	get := func(t *testing.T, in, want string) {
		t.Helper()
		if got := mustGit(t, h, "get", in); got != want {
			t.Errorf("get:\n%s\n= %q, want %q", in, got, want)
		}
	}
	const example = "protocol=https\nhost=example.com\n"

	t.Run("has no existing data", func(t *testing.T) {
		get(t, example, "")
	})
	t.Run("stores password", func(t *testing.T) {
		mustGit(t, h, "store", example+"username=store-user\npassword=store-pass\n")
	})
	t.Run("can retrieve password", func(t *testing.T) {
		get(t, example, "username=store-user\npassword=store-pass\n")
	})
	t.Run("requires matching protocol", func(t *testing.T) {
		get(t, "protocol=http\nhost=example.com\n", "")
	})
	t.Run("requires matching host", func(t *testing.T) {
		get(t, "protocol=https\nhost=other.tld\n", "")
	})
	t.Run("requires matching username", func(t *testing.T) {
		get(t, example+"username=other\n", "")
	})
	t.Run("requires matching path", func(t *testing.T) {
		mustGit(t, h, "store", "protocol=http\nhost=path.tld\npath=foo.git\nusername=user\npassword=pass\n")
		get(t, "protocol=http\nhost=path.tld\npath=bar.git\n", "")
		get(t, "protocol=http\nhost=path.tld\npath=foo.git\n", "username=user\npassword=pass\n")
	})
	t.Run("overwrites on store", func(t *testing.T) {
		mustGit(t, h, "store", example+"username=user8\npassword=pass1\n")
		mustGit(t, h, "store", example+"username=user8\npassword=pass2\n")
		get(t, example+"username=user8\n", "username=user8\npassword=pass2\n")
		mustGit(t, h, "erase", example+"username=user8\npassword=pass2\n")
		get(t, example+"username=user8\n", "")
	})
	t.Run("can forget host", func(t *testing.T) {
		mustGit(t, h, "store", example+"username=store-user\npassword=store-pass\n")
		mustGit(t, h, "erase", example)
		get(t, example, "")
	})
	// One account per server (SPEC §3): a second user replaces the first,
	// and a request for the first is never answered with the second's
	// password.
	t.Run("second user replaces the first", func(t *testing.T) {
		mustGit(t, h, "store", example+"username=user1\npassword=pass1\n")
		mustGit(t, h, "store", example+"username=user2\npassword=pass2\n")
		get(t, example+"username=user1\n", "")
		get(t, example+"username=user2\n", "username=user2\npassword=pass2\n")
	})
	t.Run("can forget user", func(t *testing.T) {
		mustGit(t, h, "erase", example+"username=user1\n")
		get(t, example+"username=user1\n", "")
	})
	t.Run("remembers other user", func(t *testing.T) {
		get(t, example+"username=user2\n", "username=user2\npassword=pass2\n")
	})
	t.Run("does not erase a password distinct from input", func(t *testing.T) {
		mustGit(t, h, "store", example+"username=user5\npassword=pass1\n")
		mustGit(t, h, "erase", example+"username=user5\npassword=pass2\n")
		get(t, example+"username=user5\n", "username=user5\npassword=pass1\n")
	})
	t.Run("erases all matching credentials", func(t *testing.T) {
		mustGit(t, h, "store", example+"username=user1\npassword=pass1\n")
		mustGit(t, h, "store", example+"username=user2\npassword=pass1\n")
		mustGit(t, h, "erase", example)
		get(t, example, "")
	})
	t.Run("can store empty username", func(t *testing.T) {
		mustGit(t, h, "store", "protocol=https\nhost=sso.tld\nusername=\npassword=\n")
		get(t, "protocol=https\nhost=sso.tld\n", "username=\npassword=\n")
	})
	t.Run("not confused by long header", func(t *testing.T) {
		long := "wwwauth[]=basic realm=" + strings.Repeat("a", MaxGitLine-len("wwwauth[]=basic realm=")-1) + "\n"
		mustGit(t, h, "store", "protocol=https\nhost=victim.example.com\nusername=user1\npassword=victim\n"+long)
		get(t, "protocol=https\nhost=badguy.example.com\n"+long, "")
		get(t, "protocol=https\nhost=victim.example.com\n"+long, "username=user1\npassword=victim\n")
	})
	t.Run("stores password_expiry_utc", func(t *testing.T) {
		mustGit(t, h, "store", example+"username=user-expiry\npassword=pass\npassword_expiry_utc=9999999999\n")
		get(t, example+"username=user-expiry\n", "username=user-expiry\npassword=pass\npassword_expiry_utc=9999999999\n")
		mustGit(t, h, "erase", example+"username=user-expiry\n")
		get(t, example, "")
	})
}

// A token stored through docker is found by git for the same host, and the
// reverse: one store, one key per server.
func TestGitFindsDockerEntriesAndDockerFindsGits(t *testing.T) {
	h, _ := newTestHelper(t)
	if _, err := docker(t, h, "store", storeJSON("app.activeloop.ai", "alice", "docker-token")); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"protocol=https\nhost=app.activeloop.ai\n",
		"protocol=https\nhost=APP.activeloop.ai:443\n",
		"protocol=https\nhost=app.activeloop.ai\npath=org/repo.git\n",
		"url=https://alice@app.activeloop.ai/org/ds\n",
	} {
		if got, want := mustGit(t, h, "get", in), "username=alice\npassword=docker-token\n"; got != want {
			t.Errorf("get:\n%s= %q, want %q", in, got, want)
		}
	}

	mustGit(t, h, "store", "protocol=https\nhost=registry.example:5000\nusername=bob\npassword=git-token\n")
	out, err := docker(t, h, "get", "registry.example:5000")
	if want := `{"ServerURL":"registry.example:5000","Username":"bob","Secret":"git-token"}` + "\n"; err != nil || out != want {
		t.Errorf("docker get of a git entry = %q, %v; want %q", out, err, want)
	}
	out, _ = docker(t, h, "list", "")
	if want := `{"app.activeloop.ai":"alice","https://registry.example:5000":"bob"}` + "\n"; out != want {
		t.Errorf("docker list = %q, want %q", out, want)
	}

	// git's store and erase act on docker's entry for the same server.
	mustGit(t, h, "store", "protocol=https\nhost=app.activeloop.ai\nusername=alice\npassword=new-token\n")
	out, _ = docker(t, h, "get", "app.activeloop.ai")
	if want := `{"ServerURL":"app.activeloop.ai","Username":"alice","Secret":"new-token"}` + "\n"; out != want {
		t.Errorf("docker get after git store = %q, want %q", out, want)
	}
	mustGit(t, h, "erase", "protocol=https\nhost=app.activeloop.ai\nusername=alice\n")
	if _, err := docker(t, h, "get", "app.activeloop.ai"); !errors.Is(err, ErrNotFound) {
		t.Errorf("docker get after git erase: %v, want not found", err)
	}
}

// A get for one host never returns the entry of another host, port or
// protocol, whatever the request's fields hold.
func TestGitNeverAnotherServer(t *testing.T) {
	h, _ := newTestHelper(t)
	mustGit(t, h, "store", "protocol=https\nhost=app.activeloop.ai\nusername=alice\npassword=secret\n")
	for _, in := range []string{
		"protocol=http\nhost=app.activeloop.ai\n",
		"protocol=ssh\nhost=app.activeloop.ai\n",
		"protocol=https\nhost=app.activeloop.ai:8443\n",
		"protocol=https\nhost=app.activeloop.ai.evil.example\n",
		"protocol=https\nhost=evil.example\npath=app.activeloop.ai\n",
		"protocol=https\nhost=app.activeloop.ai@evil.example\n",
		"protocol=https\nhost=evil.example@app.activeloop.ai\n",
		"protocol=https\nhost=evil.example/app.activeloop.ai\n",
		"protocol=https\nhost=evil.example#app.activeloop.ai\n",
		"protocol=https\nhost=evil.example?app.activeloop.ai\n",
		"protocol=https\nhost=evil.example\\app.activeloop.ai\n",
		"url=https://app.activeloop.ai@evil.example/\n",
		"url=https://evil.example/app.activeloop.ai\n",
		"protocol=https\nhost=app.activeloop.ai\nurl=https://evil.example\n",
		"protocol=https\n",
		"host=app.activeloop.ai\n",
		"protocol=https\nhost=\n",
		"protocol=cert\npath=/home/alice/cert.p12\n",
		// Dataset schemes name the default server whatever their host:
		// never a git server.
		"protocol=hub\nhost=evil.example\n",
		"protocol=AL\nhost=evil.example\n",
		"url=hub://evil.example/org/ds\n",
	} {
		out, _ := git(t, h, "get", in)
		if out != "" {
			t.Errorf("get:\n%s= %q, want nothing", in, out)
		}
	}
}

func TestGitExpiry(t *testing.T) {
	h, stderr := newTestHelper(t)
	now := h.now()
	future, past := now.Add(time.Hour).Unix(), now.Add(-time.Hour).Unix()

	// From password_expiry_utc, and else from the token's exp claim.
	mustGit(t, h, "store", fmt.Sprintf("protocol=https\nhost=a.example\nusername=u\npassword=p\npassword_expiry_utc=%d\n", future))
	if got, want := mustGit(t, h, "get", "protocol=https\nhost=a.example\n"), fmt.Sprintf("username=u\npassword=p\npassword_expiry_utc=%d\n", future); got != want {
		t.Errorf("get = %q, want %q", got, want)
	}
	jwt := jwtWithExp(future)
	mustGit(t, h, "store", "protocol=https\nhost=b.example\nusername=u\npassword="+jwt+"\n")
	if got, want := mustGit(t, h, "get", "protocol=https\nhost=b.example\n"), fmt.Sprintf("username=u\npassword=%s\npassword_expiry_utc=%d\n", jwt, future); got != want {
		t.Errorf("get of a JWT = %q, want %q", got, want)
	}
	// No expiry known: none sent. Nonsense expiries are no expiry, as git
	// reads them.
	for _, exp := range []string{"", "password_expiry_utc=0\n", "password_expiry_utc=soon\n", "password_expiry_utc=-5\n"} {
		mustGit(t, h, "store", "protocol=https\nhost=c.example\nusername=u\npassword=p\n"+exp)
		if got, want := mustGit(t, h, "get", "protocol=https\nhost=c.example\n"), "username=u\npassword=p\n"; got != want {
			t.Errorf("get after store with %q = %q, want %q", exp, got, want)
		}
	}

	// Expired: nothing on stdout, a line for the person on stderr, never
	// the secret.
	stderr.Reset()
	expired := jwtWithExp(past)
	mustGit(t, h, "store", "protocol=https\nhost=d.example\nusername=u\npassword="+expired+"\n")
	if got := mustGit(t, h, "get", "protocol=https\nhost=d.example\n"); got != "" {
		t.Errorf("get of an expired token = %q, want nothing", got)
	}
	if !strings.Contains(stderr.String(), "https://d.example expired at") || strings.Contains(stderr.String(), expired) {
		t.Errorf("stderr = %q; want when it expired, and never the token", stderr)
	}
	mustGit(t, h, "store", fmt.Sprintf("protocol=https\nhost=e.example\nusername=u\npassword=p\npassword_expiry_utc=%d\n", past))
	if got := mustGit(t, h, "get", "protocol=https\nhost=e.example\n"); got != "" {
		t.Errorf("get past password_expiry_utc = %q, want nothing", got)
	}
}

// For the default server git gets the token docker would (SPEC §7):
// ACTIVELOOP_TOKEN first. Storing it back copies nothing into the store, and
// git's erase of it leaves the store's own entry alone.
func TestGitDefaultServerToken(t *testing.T) {
	h, _ := newTestHelper(t)
	mem := h.Store
	def, _ := ParseServer(DefaultServer)
	envToken := "eyJhbGciOiJIUzI1NiJ9." + b64(`{"id":"envuser"}`) + ".c2ln"
	h.Store = &DefaultTokens{Store: mem, Server: def, Env: envToken}
	ctx := context.Background()
	if err := mem.Put(ctx, def.Key(), store.Record{ServerURL: DefaultServer, Username: "alice", Secret: []byte("stored")}); err != nil {
		t.Fatal(err)
	}
	app := "protocol=https\nhost=app.activeloop.ai\n"
	if got, want := mustGit(t, h, "get", app+"path=org/ds\n"), "username=envuser\npassword="+envToken+"\n"; got != want {
		t.Errorf("get of the default server = %q, want %q", got, want)
	}
	mustGit(t, h, "store", app+"username=envuser\npassword="+envToken+"\n")
	mustGit(t, h, "erase", app+"username=envuser\npassword="+envToken+"\n")
	recs, err := mem.List(ctx)
	if err != nil || len(recs) != 1 || string(recs[0].Secret) != "stored" {
		t.Errorf("the store after git stored back and erased the variable's token: %+v, %v", recs, err)
	}
	// Other servers: the store only.
	mustGit(t, h, "store", "protocol=https\nhost=git.example\nusername=bob\npassword=b\n")
	if got := mustGit(t, h, "get", "protocol=https\nhost=git.example\n"); got != "username=bob\npassword=b\n" {
		t.Errorf("get of another server = %q", got)
	}
}

// A token from a password login without exp lasts 1000 hours from when it
// was obtained (SPEC §8), for git as for docker.
func TestGitPasswordLoginExpiry(t *testing.T) {
	h, stderr := newTestHelper(t)
	ctx := context.Background()
	obtained := h.now().Add(-10 * time.Hour)
	h.Store.Put(ctx, "https://a.example", store.Record{ServerURL: "https://a.example", Username: "u", Secret: []byte("opaque"), Source: "password", Obtained: obtained})
	want := fmt.Sprintf("username=u\npassword=opaque\npassword_expiry_utc=%d\n", obtained.Add(PasswordTokenLifetime).Unix())
	if got := mustGit(t, h, "get", "protocol=https\nhost=a.example\n"); got != want {
		t.Errorf("get = %q, want %q", got, want)
	}
	h.Store.Put(ctx, "https://b.example", store.Record{ServerURL: "https://b.example", Username: "u", Secret: []byte("opaque"), Source: "password", Obtained: h.now().Add(-1001 * time.Hour)})
	if got := mustGit(t, h, "get", "protocol=https\nhost=b.example\n"); got != "" || !strings.Contains(stderr.String(), "https://b.example expired at") {
		t.Errorf("get of a password login older than 1000 hours = %q, stderr %q", got, stderr)
	}
}

// git stores back what a get gave it after every successful request; the
// entry keeps its source, time and expiry, and the store is not written.
func TestGitStoreOfTheSameCredentialsKeepsTheEntry(t *testing.T) {
	h, _ := newTestHelper(t)
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	obtained := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := store.Record{ServerURL: "https://app.activeloop.ai", Username: "alice", Secret: []byte("tok"), Obtained: obtained, Source: "password", Expires: exp}
	if err := h.Store.Put(context.Background(), "https://app.activeloop.ai", rec); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"protocol=https\nhost=app.activeloop.ai\nusername=alice\npassword=tok\n",
		// With credential.useHttpPath: found by prefix, stored back for the path.
		"protocol=https\nhost=app.activeloop.ai\npath=org/repo.git\nusername=alice\npassword=tok\n",
	} {
		mustGit(t, h, "store", in)
		recs, err := h.Store.List(context.Background())
		if err != nil || len(recs) != 1 || !reflect.DeepEqual(recs[0], rec) {
			t.Errorf("after store of the same credentials:\n%s the store holds %+v, %v; want only %+v", in, recs, err, rec)
		}
	}
}

func TestGitEraseOfAnEntryFoundByPrefix(t *testing.T) {
	h, _ := newTestHelper(t)
	mustGit(t, h, "store", "protocol=https\nhost=git.example\nusername=alice\npassword=tok\n")
	withPath := "protocol=https\nhost=git.example\npath=org/repo.git\n"
	// Not named by its password: the host's entry is not this path's.
	mustGit(t, h, "erase", withPath)
	mustGit(t, h, "erase", withPath+"username=alice\n")
	mustGit(t, h, "erase", withPath+"username=alice\npassword=other\n")
	if got := mustGit(t, h, "get", withPath); got != "username=alice\npassword=tok\n" {
		t.Fatalf("get after erases that do not name it = %q", got)
	}
	// The password the server refused: that credential goes.
	mustGit(t, h, "erase", withPath+"username=alice\npassword=tok\n")
	if got := mustGit(t, h, "get", "protocol=https\nhost=git.example\n"); got != "" {
		t.Fatalf("get after erase with the refused password = %q", got)
	}
}

// git ≥ 2.46 announces capabilities. The helper keeps passwords only: it
// announces none, sends no authtype or credential, ignores what it does not
// use, and has nothing to store from a pre-encoded credential.
func TestGitCapabilities(t *testing.T) {
	h, _ := newTestHelper(t)
	mustGit(t, h, "store", "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=git.example\nusername=alice\npassword=tok\nstate[]=helper:x\n")
	in := "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=git.example\nwwwauth[]=Basic realm=\"x\"\nwwwauth[]=Bearer\nstate[]=helper:y\n"
	if got, want := mustGit(t, h, "get", in), "username=alice\npassword=tok\n"; got != want {
		t.Errorf("get with capabilities = %q, want %q", got, want)
	}
	// Only a pre-encoded credential: nothing stored, nothing replaced.
	mustGit(t, h, "store", "capability[]=authtype\nauthtype=Bearer\ncredential=random-token\nephemeral=1\nprotocol=https\nhost=git.example\n")
	mustGit(t, h, "store", "capability[]=authtype\nauthtype=Bearer\ncredential=random-token\nprotocol=https\nhost=other.example\n")
	if got, want := mustGit(t, h, "get", in), "username=alice\npassword=tok\n"; got != want {
		t.Errorf("get after a credential-only store = %q, want %q", got, want)
	}
	if got := mustGit(t, h, "get", "capability[]=authtype\nprotocol=https\nhost=other.example\n"); got != "" {
		t.Errorf("get of a host given only a credential = %q, want nothing", got)
	}
	// An erase naming a credential, not a password, erases by username.
	mustGit(t, h, "erase", "capability[]=authtype\nauthtype=Basic\ncredential=xyz\nprotocol=https\nhost=git.example\nusername=alice\n")
	if got := mustGit(t, h, "get", in); got != "" {
		t.Errorf("get after erase = %q, want nothing", got)
	}
}

func TestGitUnknownOperation(t *testing.T) {
	h, _ := newTestHelper(t)
	for _, op := range []string{"capability", "list", "GET", "", "fill"} {
		// An input that would fail to parse: it must not be read.
		out, err := git(t, h, op, "not a description\x00")
		if out != "" || err != nil {
			t.Errorf("%q = %q, %v; want no output and success", op, out, err)
		}
	}
}

func TestGitBadInputChangesNothing(t *testing.T) {
	h, _ := newTestHelper(t)
	mustGit(t, h, "store", "protocol=https\nhost=app.activeloop.ai\nusername=alice\npassword=secret\n")
	bad := []string{
		"protocol=https\nhost=app.activeloop.ai\nusername=mallory\npassword\n",
		"protocol=https\nhost=app.activeloop.ai\nusername=mallory\npassword=a\x00b\n",
		"protocol=https\nhost=app.activeloop.ai\nusername=mallory\npassword=" + strings.Repeat("x", MaxGitLine) + "\n",
		"url=app.activeloop.ai\nusername=mallory\npassword=x\n",
		"url=https://app.activeloop.ai/%0a\nusername=mallory\npassword=x\n",
		"protocol=https\nhost=app.activeloop.ai:x\nusername=mallory\npassword=x\n",
		"protocol=ht/tps\nhost=app.activeloop.ai\nusername=mallory\npassword=x\n",
		"protocol=https\nhost=app.activeloop.ai\tevil\nusername=mallory\npassword=x\n",
		"protocol=https\nhost=app.activeloop.ai\nusername=mallory\npassword=x\n" + strings.Repeat("k=v\n", MaxInput/4+1),
	}
	// Stored records hold usernames as UTF-8 text.
	badStore := "protocol=https\nhost=app.activeloop.ai\nusername=mal\xfflory\npassword=x\n"
	for i, in := range append(bad, badStore) {
		ops := []string{"store", "erase"}
		if i == len(bad) {
			ops = ops[:1]
		}
		for _, op := range ops {
			_, err := git(t, h, op, in)
			if err == nil {
				t.Errorf("%s of bad input %.80q: no error", op, in)
				continue
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("%s: the error quotes the input: %v", op, err)
			}
		}
	}
	if got := mustGit(t, h, "get", "protocol=https\nhost=app.activeloop.ai\n"); got != "username=alice\npassword=secret\n" {
		t.Errorf("after bad input, get = %q", got)
	}
}

// A stored value git's line protocol cannot carry is not sent cut short.
func TestGitUnsendableSecret(t *testing.T) {
	h, _ := newTestHelper(t)
	if _, err := docker(t, h, "store", storeJSON("https://app.activeloop.ai", "alice", "line1\nline2")); err != nil {
		t.Fatal(err)
	}
	out, err := git(t, h, "get", "protocol=https\nhost=app.activeloop.ai\n")
	if out != "" || err == nil || strings.Contains(err.Error(), "line1") {
		t.Errorf("get of a secret with a newline = %q, %v; want no output and an error without the secret", out, err)
	}
}

func TestReadGitAttributes(t *testing.T) {
	long := strings.Repeat("v", MaxGitLine-len("k=")-1)
	tests := []struct {
		name, in string
		want     GitAttributes
	}{
		{"empty", "", GitAttributes{}},
		{"blank line ends it", "protocol=https\n\nhost=later\n", GitAttributes{Values: map[string]string{"protocol": "https"}}},
		{"end of file without newline", "protocol=https\nhost=h", GitAttributes{Values: map[string]string{"protocol": "https", "host": "h"}}},
		{"CRLF", "protocol=https\r\nhost=h\r\n\r\nx=y\n", GitAttributes{Values: map[string]string{"protocol": "https", "host": "h"}}},
		{"CR kept inside and at the end of the input", "a=b\rc\nd=e\r", GitAttributes{Values: map[string]string{"a": "b\rc", "d": "e\r"}}},
		{"bytes as they are", "password= a=b \t\xff\n", GitAttributes{Values: map[string]string{"password": " a=b \t\xff"}}},
		{"empty value", "username=\n", GitAttributes{Values: map[string]string{"username": ""}}},
		{"later value wins", "host=a\nhost=b\n", GitAttributes{Values: map[string]string{"host": "b"}}},
		{"unknown keys kept", "=x\nfuture=1\n", GitAttributes{Values: map[string]string{"": "x", "future": "1"}}},
		{"lists in order", "wwwauth[]=a\ncapability[]=authtype\nwwwauth[]=b\n", GitAttributes{Lists: map[string][]string{"wwwauth[]": {"a", "b"}, "capability[]": {"authtype"}}}},
		{"empty value resets a list", "wwwauth[]=a\nwwwauth[]=\nwwwauth[]=b\nstate[]=s\nstate[]=\n", GitAttributes{Lists: map[string][]string{"wwwauth[]": {"b"}}}},
		{"longest line", "k=" + long + "\n", GitAttributes{Values: map[string]string{"k": long}}},
		{"longest line at end of file", "k=" + long, GitAttributes{Values: map[string]string{"k": long}}},
		// url= as git's credential_from_url: everything before it is
		// dropped, its parts percent-decoded, the path trimmed of slashes.
		{"url", "username=x\nwwwauth[]=y\nurl=https://example.com\npath=p\n", GitAttributes{Values: map[string]string{"protocol": "https", "host": "example.com", "path": "p"}}},
		{"url with everything", "url=https://us%65r:p%40ss:w@Example.com:8443//a/b%20c.git//?q#f\n", GitAttributes{Values: map[string]string{
			"protocol": "https", "host": "Example.com:8443", "username": "user", "password": "p@ss:w", "path": "a/b c.git//?q#f"}}},
		{"url user only", "url=https://alice@example.com/\n", GitAttributes{Values: map[string]string{"protocol": "https", "host": "example.com", "username": "alice"}}},
		{"url empty user", "url=https://@example.com\n", GitAttributes{Values: map[string]string{"protocol": "https", "host": "example.com", "username": ""}}},
		{"url at after the host", "url=https://example.com/a@b\n", GitAttributes{Values: map[string]string{"protocol": "https", "host": "example.com", "path": "a@b"}}},
		{"url query ends the host", "url=https://example.com?x@y\n", GitAttributes{Values: map[string]string{"protocol": "https", "host": "example.com", "path": "?x@y"}}},
		{"url without host", "url=cert:///home/a/cert.p12\n", GitAttributes{Values: map[string]string{"protocol": "cert", "host": "", "path": "home/a/cert.p12"}}},
		{"url plus stays", "url=https://a+b@h/%2x%\n", GitAttributes{Values: map[string]string{"protocol": "https", "host": "h", "username": "a+b", "path": "%2x%"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadGitAttributes(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !equalAttributes(got, tt.want) {
				t.Errorf("= %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestReadGitAttributesErrors(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"no =", "protocol=https\nsecret-password\n", "line 2 is not key=value"},
		{"NUL", "password=se\x00cret\n", "line 1 holds a NUL byte"},
		{"line too long", "k=" + strings.Repeat("v", MaxGitLine-len("k=")) + "\n", "line 1 is longer than 65535 bytes"},
		{"line too long at end of file", "k=" + strings.Repeat("v", MaxGitLine-len("k=")), "line 1 is longer than 65535 bytes"},
		{"url without scheme", "url=example.com\n", "url on line 1: no scheme"},
		{"url empty scheme", "url=://example.com\n", "url on line 1: no scheme"},
		{"url newline", "url=https://example.com/a%0Ab\n", "url on line 1: its path holds a newline or NUL"},
		{"url NUL in password", "url=https://u:p%00w@example.com\n", "url on line 1: its password holds a newline or NUL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadGitAttributes(strings.NewReader(tt.in))
			if err == nil || !errors.Is(err, ErrGitInput) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "vvvv") {
				t.Errorf("the error quotes the input: %v", err)
			}
		})
	}
	_, err := ReadGitAttributes(strings.NewReader(strings.Repeat("k=v\n", MaxInput/4+1)))
	if !errors.Is(err, ErrInputTooLarge) {
		t.Errorf("over %d bytes: %v, want ErrInputTooLarge", MaxInput, err)
	}
}

// Reading stops at the blank line: a person typing a description at a
// terminal gets the answer without closing stdin.
func TestReadGitAttributesStopsAtTheBlankLine(t *testing.T) {
	r := &stopReader{data: "protocol=https\nhost=h\n\n"}
	if _, err := ReadGitAttributes(r); err != nil {
		t.Fatal(err)
	}
}

// stopReader returns its data a line at a time and fails the read after.
type stopReader struct{ data string }

func (r *stopReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, errors.New("read past the blank line")
	}
	line, rest, _ := strings.Cut(r.data, "\n")
	n := copy(p, line+"\n")
	r.data = rest
	return n, nil
}

func TestMarshalGit(t *testing.T) {
	a := GitAttributes{
		Values: map[string]string{"password": "p", "username": "", "protocol": "https", "host": "h", "zz": "1", "aa": "2", "password_expiry_utc": "5", "authtype": "Basic"},
		Lists:  map[string][]string{"wwwauth[]": {"x", "y"}, "capability[]": {"authtype"}, "a[]": {"z"}},
	}
	got, err := a.MarshalGit()
	want := "capability[]=authtype\nauthtype=Basic\nprotocol=https\nhost=h\nusername=\npassword=p\npassword_expiry_utc=5\naa=2\nzz=1\na[]=z\nwwwauth[]=x\nwwwauth[]=y\n"
	if err != nil || string(got) != want {
		t.Fatalf("= %q, %v\nwant %q", got, err, want)
	}
	for _, bad := range []GitAttributes{
		{Values: map[string]string{"password": "a\nb"}},
		{Values: map[string]string{"password": "a\x00b"}},
		{Values: map[string]string{"password": "ab\r"}},
		{Values: map[string]string{"k=": "v"}},
		{Values: map[string]string{"url": "https://h"}},
		{Values: map[string]string{"k[]": "v"}},
		{Values: map[string]string{"k": strings.Repeat("v", MaxGitLine)}},
		{Lists: map[string][]string{"k": {"v"}}},
		{Lists: map[string][]string{"k[]": {""}}},
		{Lists: map[string][]string{"k[]": {}}},
	} {
		if b, err := bad.MarshalGit(); err == nil {
			t.Errorf("%#v marshals to %q; want an error", bad, b)
		}
	}
}

func equalAttributes(a, b GitAttributes) bool {
	return len(a.Values) == len(b.Values) && len(a.Lists) == len(b.Lists) &&
		(len(a.Values) == 0 || reflect.DeepEqual(a.Values, b.Values)) &&
		(len(a.Lists) == 0 || reflect.DeepEqual(a.Lists, b.Lists))
}

// FuzzGitAttributes checks the round trip of the git protocol's parser: what
// it reads, written back, reads the same and writes the same bytes; and what
// cannot be written back is exactly what the protocol cannot carry.
func FuzzGitAttributes(f *testing.F) {
	for _, s := range []string{
		"protocol=https\nhost=example.com\nusername=alice\npassword=secret\n",
		"protocol=https\r\nhost=example.com:8443\r\npath=org/repo.git\r\n\r\n",
		"capability[]=authtype\ncapability[]=state\nauthtype=Bearer\ncredential=tok\nephemeral=1\nstate[]=a\ncontinue=1\n",
		"wwwauth[]=Basic realm=\"x\"\nwwwauth[]=\nwwwauth[]=Bearer\n",
		"url=https://u%3a:p%40@Example.com:443//a//b%2f//?q#f\nusername=later\n",
		"url=cert:///path/to/cert\n",
		"password_expiry_utc=9999999999\nfuture=x\n=\n",
		"a=b\rc\nd=e\r",
		"no equals\n",
		"k=" + strings.Repeat("v", 100) + "\n\nafter=blank\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := ReadGitAttributes(bytes.NewReader(in))
		if err != nil {
			return
		}
		b, err := a.MarshalGit()
		if err != nil {
			if !unsendable(a) {
				t.Fatalf("%#v does not marshal: %v", a, err)
			}
			return
		}
		a2, err := ReadGitAttributes(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("reading back %q: %v", b, err)
		}
		if !equalAttributes(a, a2) {
			t.Fatalf("round trip changed the attributes:\n%#v\n%#v", a, a2)
		}
		b2, err := a2.MarshalGit()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("marshal is not stable: %q, %q, %v", b, b2, err)
		}
	})
}

// unsendable reports a value the line protocol cannot carry back as it is: a
// carriage return that ended the input, or that url= decoded from %0d, would
// be read as part of a line break.
func unsendable(a GitAttributes) bool {
	bad := func(k, v string) bool { return strings.HasSuffix(v, "\r") || len(k)+len(v)+2 > MaxGitLine }
	for k, v := range a.Values {
		if bad(k, v) {
			return true
		}
	}
	for k, vs := range a.Lists {
		for _, v := range vs {
			if bad(k, v) {
				return true
			}
		}
	}
	return false
}

// FuzzGitStoreGet checks that what git stores, a get for the same server
// and user answers byte for byte, and that a get for another host does not.
func FuzzGitStoreGet(f *testing.F) {
	f.Add("https", "example.com", "", "alice", "secret")
	f.Add("http", "127.0.0.1:8080", "org/repo.git", "", "")
	f.Add("https", "[::1]:443", "a b/%2F", "ü/..", "p=a\tss")
	f.Fuzz(func(t *testing.T, protocol, host, path, user, password string) {
		h := &Helper{Store: store.New(store.NewMemory(), time.Second), Now: func() time.Time { return time.Unix(1e9, 0) }}
		server := map[string]string{"protocol": protocol, "host": host}
		if path != "" {
			server["path"] = path
		}
		desc, err := GitAttributes{Values: server}.MarshalGit()
		if err != nil {
			return // not something git can send
		}
		creds, err := GitAttributes{Values: map[string]string{"username": user, "password": password}}.MarshalGit()
		if err != nil {
			return
		}
		ctx := context.Background()
		var out bytes.Buffer
		if err := h.Git(ctx, "store", bytes.NewReader(append(desc, creds...)), &out); err != nil {
			return
		}
		a, err := ReadGitAttributes(bytes.NewReader(desc))
		if err != nil {
			t.Fatalf("stored, yet the description does not read: %v", err)
		}
		if _, ok, _ := gitRequestFrom(a); !ok {
			return // nothing was stored
		}
		if err := h.Git(ctx, "get", bytes.NewReader(desc), &out); err != nil {
			t.Fatalf("get of %q: %v", desc, err)
		}
		if out.Len() == 0 {
			if TokenExpiry(password).IsZero() {
				t.Fatalf("stored %q, get answers nothing", desc)
			}
			return // an expired JWT
		}
		got, err := ReadGitAttributes(&out)
		if err != nil {
			t.Fatal(err)
		}
		if got.Values["username"] != user || got.Values["password"] != password {
			t.Fatalf("stored %q as %q/%q, got %#v", desc, user, password, got)
		}
		out.Reset()
		other := "protocol=" + protocol + "\nhost=x" + host + "\n"
		if err := h.Git(ctx, "get", strings.NewReader(other), &out); err == nil && out.Len() > 0 {
			t.Fatalf("stored for %q, answered for %q", host, other)
		}
	})
}
