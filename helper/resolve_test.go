package helper

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// failingStore is a store that cannot be read.
type failingStore struct{ Store }

func (failingStore) Lookup(context.Context, []string) (store.Record, error) {
	return store.Record{}, errors.New("the keyring is locked")
}

func jwtFor(id string, exp time.Time) string {
	return "eyJhbGciOiJIUzI1NiJ9." + b64(`{"id":"`+id+`","exp":`+itoa(exp.Unix())+`}`) + ".c2ln"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// resolveFixture is a store holding stored-token for the default server and
// a legacy file holding legacy-token.
type resolveFixture struct {
	st      *store.Store
	legacy  string
	opened  int
	srv     Server
	sources Sources
}

func newResolveFixture(t *testing.T) *resolveFixture {
	t.Helper()
	f := &resolveFixture{st: store.New(store.NewMemory(), time.Second), srv: mustParse(t, DefaultServer)}
	ctx := context.Background()
	if err := f.st.Put(ctx, f.srv.Key(), store.Record{
		ServerURL: f.srv.Key(), Username: "alice", Secret: []byte("stored-token"),
		Source: "password", Obtained: t0,
	}); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	f.legacy = LegacyTokenPath(home)
	if err := os.MkdirAll(filepath.Dir(f.legacy), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.legacy, []byte("legacy-token"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.sources = Sources{
		Store: func(context.Context) (Store, error) {
			f.opened++
			return f.st, nil
		},
		Server:     f.srv,
		LegacyPath: f.legacy,
	}
	return f
}

func TestResolveOrder(t *testing.T) {
	ctx := context.Background()
	f := newResolveFixture(t)
	s := f.sources

	// Everything set: the flag wins, and the store is not even opened.
	s.Flag, s.Env = "flag-token", "env-token"
	r, err := Resolve(ctx, s)
	if err != nil || r.Token != "flag-token" || r.Source != SourceFlag || f.opened != 0 {
		t.Fatalf("flag: %+v, %v (store opened %d times)", r, err, f.opened)
	}
	s.Flag = ""
	r, err = Resolve(ctx, s)
	if err != nil || r.Token != "env-token" || r.Source != SourceEnv || f.opened != 0 {
		t.Fatalf("env: %+v, %v (store opened %d times)", r, err, f.opened)
	}
	s.Env = ""
	r, err = Resolve(ctx, s)
	if err != nil || r.Token != "stored-token" || r.Source != SourceStore || r.Record.Username != "alice" || r.Warning != "" {
		t.Fatalf("store: %+v, %v", r, err)
	}
	if want := t0.Add(PasswordTokenLifetime); !r.Expires.Equal(want) {
		t.Errorf("store: expires %v, want %v", r.Expires, want)
	}
	if err := f.st.Delete(ctx, f.srv.Key()); err != nil {
		t.Fatal(err)
	}
	r, err = Resolve(ctx, s)
	if err != nil || r.Token != "legacy-token" || r.Source != SourceLegacy {
		t.Fatalf("legacy: %+v, %v", r, err)
	}
	if !strings.Contains(r.Warning, f.legacy) || !strings.Contains(r.Warning, "import") || strings.Contains(r.Warning, "legacy-token") {
		t.Errorf("legacy warning = %q; want the path and the import hint, without the token", r.Warning)
	}
	if err := os.Remove(f.legacy); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(ctx, s); !errors.Is(err, ErrNoToken) {
		t.Fatalf("nothing anywhere: %v, want ErrNoToken", err)
	}
}

func TestResolveFlagAndEnvTokens(t *testing.T) {
	f := newResolveFixture(t)
	s := f.sources
	exp := t0.Add(time.Hour)
	s.Env = jwtFor("bob", exp)
	r, err := Resolve(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if r.Record.Username != "bob" || !r.Expires.Equal(exp) || r.Record.ServerURL != DefaultServer {
		t.Errorf("env JWT: username %q, expires %v, server %q", r.Record.Username, r.Expires, r.Record.ServerURL)
	}
}

func TestResolveStoreByLongestPrefix(t *testing.T) {
	f := newResolveFixture(t)
	s := f.sources
	s.Server = mustParse(t, "hub://org/dataset")
	r, err := Resolve(context.Background(), s)
	if err != nil || r.Token != "stored-token" {
		t.Fatalf("hub:// path: %+v, %v", r, err)
	}
	s.Server = mustParse(t, "https://app.activeloop.ai:8443")
	r, err = Resolve(context.Background(), s)
	if err != nil || r.Source != SourceLegacy {
		t.Fatalf("another port must not find the stored login: %+v, %v", r, err)
	}
}

func TestResolveStoreFailure(t *testing.T) {
	f := newResolveFixture(t)
	s := f.sources
	s.Store = func(context.Context) (Store, error) { return failingStore{f.st}, nil }
	r, err := Resolve(context.Background(), s)
	if err != nil || r.Source != SourceLegacy || !strings.Contains(r.Warning, "the keyring is locked") {
		t.Fatalf("a failing store with a legacy file: %+v, %v; want the legacy token, saying why", r, err)
	}
	os.Remove(f.legacy)
	if _, err := Resolve(context.Background(), s); err == nil || !strings.Contains(err.Error(), "locked") || errors.Is(err, ErrNoToken) {
		t.Fatalf("a failing store without a legacy file: %v; want the store's error", err)
	}
	s.Store = func(context.Context) (Store, error) { return nil, errors.New("no backend") }
	if _, err := Resolve(context.Background(), s); err == nil || !strings.Contains(err.Error(), "no backend") {
		t.Fatalf("a store that does not open: %v", err)
	}
}

func TestResolveLegacyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	for content, want := range map[string]string{
		"tok":        "tok",
		"tok\n":      "tok",
		"  tok \r\n": "tok",
		"":           "",
		"\n":         "",
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadLegacyToken(path)
		if err != nil || got != want {
			t.Errorf("ReadLegacyToken(%q) = %q, %v; want %q", content, got, err, want)
		}
	}
	if got, err := ReadLegacyToken(filepath.Join(dir, "absent")); err != nil || got != "" {
		t.Errorf("absent file: %q, %v", got, err)
	}
	if got, err := ReadLegacyToken(""); err != nil || got != "" {
		t.Errorf("no path: %q, %v", got, err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte("a"), MaxInput+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLegacyToken(path); !errors.Is(err, ErrInputTooLarge) {
		t.Errorf("oversized file: %v", err)
	}
	// Read only: the file is never changed.
	before, _ := os.Stat(path)
	ReadLegacyToken(path)
	after, _ := os.Stat(path)
	if !before.ModTime().Equal(after.ModTime()) || before.Mode() != after.Mode() {
		t.Error("reading the legacy file changed it")
	}
}

func TestResolveTokenID(t *testing.T) {
	for tok, want := range map[string]string{
		"h." + b64(`{"id":"alice"}`) + ".s":  "alice",
		"h." + b64(`{"id":42}`) + ".s":       "",
		"h." + b64(`{"id":"a\nb"}`) + ".s":   "",
		"h." + b64(`{"sub":"alice"}`) + ".s": "",
		"PUBLIC_TOKEN_" + "______":           "",
		"not-a-jwt":                          "",
	} {
		if got := TokenID(tok); got != want {
			t.Errorf("TokenID(%q) = %q, want %q", tok, got, want)
		}
	}
}

// A protocol get of the default server follows SPEC §7; of any other
// server, it reads the store only.
func TestResolveDockerGetDefaultServer(t *testing.T) {
	f := newResolveFixture(t)
	var stderr bytes.Buffer
	envTok := jwtFor("bob", t0.Add(time.Hour))
	h := &Helper{
		Store:  &DefaultTokens{Store: f.st, Server: f.srv, Env: envTok, LegacyPath: f.legacy, Stderr: &stderr},
		Stderr: &stderr,
		Now:    func() time.Time { return t0 },
	}
	docker(t, h, "store", storeJSON("https://other.example", "carol", "other-token"))

	out, err := docker(t, h, "get", "hub://org/ds")
	if err != nil || out != `{"ServerURL":"hub://org/ds","Username":"bob","Secret":"`+envTok+`"}`+"\n" {
		t.Fatalf("get of the default server with ACTIVELOOP_TOKEN set = %q, %v", out, err)
	}
	out, err = docker(t, h, "get", "https://other.example")
	if err != nil || !strings.Contains(out, "other-token") {
		t.Fatalf("get of another server = %q, %v; want its stored entry", out, err)
	}
	h.Store.(*DefaultTokens).Env = ""
	out, err = docker(t, h, "get", "app.activeloop.ai")
	if err != nil || !strings.Contains(out, "stored-token") {
		t.Fatalf("get without ACTIVELOOP_TOKEN = %q, %v; want the stored token", out, err)
	}
	docker(t, h, "erase", "https://app.activeloop.ai")
	out, err = docker(t, h, "get", "app.activeloop.ai")
	if err != nil || out != `{"ServerURL":"app.activeloop.ai","Username":"activeloop","Secret":"legacy-token"}`+"\n" {
		t.Fatalf("get with only the legacy file = %q, %v", out, err)
	}
	if !strings.Contains(stderr.String(), "plaintext token") {
		t.Errorf("stderr = %q, want the legacy warning", stderr.String())
	}
	// list shows the store only, never the environment or the file.
	out, _ = docker(t, h, "list", "")
	if out != `{"https://other.example":"carol"}`+"\n" {
		t.Errorf("list = %q", out)
	}
	// An expired token from the environment is not handed out either.
	h.Store.(*DefaultTokens).Env = jwtFor("bob", t0.Add(-time.Hour))
	stderr.Reset()
	if out, err := docker(t, h, "get", "app.activeloop.ai"); !errors.Is(err, ErrNotFound) || out != "" {
		t.Fatalf("get with an expired ACTIVELOOP_TOKEN = %q, %v", out, err)
	}
	if !strings.Contains(stderr.String(), "expired at 2029-12-31 23:00 UTC") {
		t.Errorf("stderr = %q", stderr.String())
	}
}
