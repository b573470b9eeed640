package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

func newTestHelper(t *testing.T) (*Helper, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	return &Helper{
		Store:  store.New(store.NewMemory(), time.Second),
		Stderr: &stderr,
		Now:    func() time.Time { return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) },
	}, &stderr
}

func docker(t *testing.T, h *Helper, verb, in string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := h.Docker(context.Background(), verb, strings.NewReader(in), &out, "test-version")
	return out.String(), err
}

func storeJSON(server, user, secret string) string {
	b, _ := json.Marshal(Credentials{ServerURL: server, Username: user, Secret: secret})
	return string(b)
}

func TestDockerRoundTrip(t *testing.T) {
	h, _ := newTestHelper(t)
	if _, err := docker(t, h, "store", storeJSON("https://app.activeloop.ai", "alice", "tok\n")); err != nil {
		t.Fatal(err)
	}
	out, err := docker(t, h, "get", "https://app.activeloop.ai")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"ServerURL":"https://app.activeloop.ai","Username":"alice","Secret":"tok\n"}` + "\n"; out != want {
		t.Fatalf("get = %q, want %q", out, want)
	}
	out, err = docker(t, h, "list", "")
	if err != nil || out != `{"https://app.activeloop.ai":"alice"}`+"\n" {
		t.Fatalf("list = %q, %v", out, err)
	}
	if _, err := docker(t, h, "erase", "https://app.activeloop.ai\n"); err != nil {
		t.Fatal(err)
	}
	if out, err := docker(t, h, "get", "https://app.activeloop.ai"); !errors.Is(err, ErrNotFound) || out != "" {
		t.Fatalf("get after erase = %q, %v", out, err)
	}
	if _, err := docker(t, h, "erase", "https://app.activeloop.ai"); err != nil {
		t.Fatalf("erase of an absent entry: %v", err)
	}
}

// get echoes the URL it was asked for, and HTML-escapes as docker's encoder.
func TestDockerGetEchoesAskedURL(t *testing.T) {
	h, _ := newTestHelper(t)
	docker(t, h, "store", storeJSON("https://app.activeloop.ai", "a<b>&", "s<>&"))
	out, err := docker(t, h, "get", "  hub://org/ds\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"ServerURL":"hub://org/ds","Username":"a\u003cb\u003e\u0026","Secret":"s\u003c\u003e\u0026"}` + "\n"; out != want {
		t.Fatalf("get = %q, want %q", out, want)
	}
}

func TestDockerStoredAsGiven(t *testing.T) {
	h, _ := newTestHelper(t)
	for _, s := range []string{"127.0.0.1:5000", "https://UPPER.example", "https://index.docker.io/v1/", "https://index.docker.io/v1/access-token"} {
		if _, err := docker(t, h, "store", storeJSON(s, "u-"+s, "p")); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := docker(t, h, "list", "")
	var m map[string]string
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 4 || m["127.0.0.1:5000"] != "u-127.0.0.1:5000" || m["https://UPPER.example"] == "" || m["https://index.docker.io/v1/access-token"] == "" {
		t.Fatalf("list = %s", out)
	}
}

func TestDockerSecondStoreReplaces(t *testing.T) {
	h, _ := newTestHelper(t)
	docker(t, h, "store", storeJSON("app.activeloop.ai", "alice", "one"))
	docker(t, h, "store", storeJSON("https://app.activeloop.ai/", "bob", "two"))
	out, _ := docker(t, h, "list", "")
	if out != `{"https://app.activeloop.ai/":"bob"}`+"\n" {
		t.Fatalf("list = %q, want only bob's entry", out)
	}
	out, _ = docker(t, h, "get", "app.activeloop.ai")
	if !strings.Contains(out, `"Username":"bob","Secret":"two"`) {
		t.Fatalf("get = %q", out)
	}
}

func TestDockerLongestPrefix(t *testing.T) {
	h, _ := newTestHelper(t)
	docker(t, h, "store", storeJSON("https://h.example", "root", "r"))
	docker(t, h, "store", storeJSON("https://h.example/v1", "v1", "x"))
	for asked, user := range map[string]string{
		"https://h.example/v1/repo": "v1",
		"https://h.example/v10":     "root",
		"h.example/other":           "root",
		"https://H.EXAMPLE:443/v1/": "v1",
	} {
		out, err := docker(t, h, "get", asked)
		if err != nil || !strings.Contains(out, `"Username":"`+user+`"`) {
			t.Errorf("get %q = %q, %v; want user %s", asked, out, err, user)
		}
	}
	if _, err := docker(t, h, "get", "https://h.example.evil"); !errors.Is(err, ErrNotFound) {
		t.Errorf("look-alike host found something: %v", err)
	}
}

func TestDockerExpiredIsNotFound(t *testing.T) {
	h, stderr := newTestHelper(t)
	expired := jwtWithExp(h.Now().Add(-time.Minute).Unix())
	docker(t, h, "store", storeJSON("app.activeloop.ai", "alice", expired))
	if out, err := docker(t, h, "get", "app.activeloop.ai"); !errors.Is(err, ErrNotFound) || out != "" {
		t.Fatalf("get of an expired token = %q, %v", out, err)
	}
	if !strings.Contains(stderr.String(), "expired") || strings.Contains(stderr.String(), expired) {
		t.Fatalf("stderr = %q, want an expiry hint without the token", stderr.String())
	}
	valid := jwtWithExp(h.Now().Add(time.Hour).Unix())
	docker(t, h, "store", storeJSON("app.activeloop.ai", "alice", valid))
	if _, err := docker(t, h, "get", "app.activeloop.ai"); err != nil {
		t.Fatal(err)
	}
}

func jwtWithExp(exp int64) string {
	return "eyJhbGciOiJIUzI1NiJ9." + b64(fmt.Sprintf(`{"id":"alice","exp":%d}`, exp)) + ".c2ln"
}

// Bad input: a clear error, and what was stored is left alone.
func TestDockerBadInputChangesNothing(t *testing.T) {
	h, _ := newTestHelper(t)
	docker(t, h, "store", storeJSON("https://app.activeloop.ai", "alice", "keep-me"))
	before, _ := docker(t, h, "list", "")
	cases := []struct{ verb, in, want string }{
		{"store", "", "no credentials on stdin"},
		{"store", "   \n", "no credentials on stdin"},
		{"store", `{"ServerURL":`, "malformed credentials"},
		{"store", `not json at all keep-me`, "malformed credentials"},
		{"store", `["https://app.activeloop.ai"]`, "malformed credentials"},
		{"store", `{"Username":"a","Secret":"s"}`, msgMissingServerURL},
		{"store", `{"ServerURL":"https://app.activeloop.ai","Secret":"s"}`, msgMissingUsername},
		{"store", `{"ServerURL":"https://app.activeloop.ai\u0000x","Username":"a","Secret":"s"}`, "invalid server URL"},
		{"store", `{"ServerURL":"https://app.activeloop.ai","Username":"a\nb","Secret":"s"}`, "invalid username"},
		{"store", storeJSON("https://app.activeloop.ai", "a", "s") + `{}`, "unexpected data"},
		{"store", `{"ServerURL":"x","Username":"a","Secret":"` + strings.Repeat("A", MaxInput) + `"}`, "too large"},
		{"get", "", msgMissingServerURL},
		{"get", "https://app.activeloop.ai/\x01", "invalid server URL"},
		{"get", "https://other.example", msgNotFound},
		{"get", strings.Repeat("x", 10<<20), "too large"},
		{"erase", "", msgMissingServerURL},
		{"erase", "https://app.activeloop.ai\x1b[2J", "invalid server URL"},
		{"frobnicate", "", "unknown action"},
	}
	for _, c := range cases {
		out, err := docker(t, h, c.verb, c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %.40q: err = %v, want one containing %q", c.verb, c.in, err, c.want)
		}
		if out != "" {
			t.Errorf("%s %.40q wrote %q to stdout", c.verb, c.in, out)
		}
		if err != nil && strings.Contains(err.Error(), "keep-me") {
			t.Errorf("%s: the error quotes the input: %v", c.verb, err)
		}
	}
	if after, _ := docker(t, h, "list", ""); after != before {
		t.Fatalf("stored entries changed: %q → %q", before, after)
	}
	out, _ := docker(t, h, "get", "https://app.activeloop.ai")
	if !strings.Contains(out, "keep-me") {
		t.Fatalf("secret changed: %q", out)
	}
}

func FuzzParseStoreInput(f *testing.F) {
	f.Add([]byte(storeJSON("https://app.activeloop.ai", "alice", "tok\n")))
	f.Add([]byte(`{"ServerURL":"h","Username":"u/../ü","Secret":"\u0000\"\\"}`))
	f.Add([]byte(`{"ServerURL":"h","Username":"u","Secret":"s","Extra":1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseStoreInput(in)
		if err != nil {
			return
		}
		// What parsed re-encodes to JSON that parses to the same credentials.
		again, err := ParseStoreInput([]byte(storeJSON(c.ServerURL, c.Username, c.Secret)))
		if err != nil || again != c {
			t.Fatalf("round trip of %+v: %+v, %v", c, again, err)
		}
	})
}
