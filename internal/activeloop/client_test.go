package activeloop_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/internal/activeloop"
	"github.com/activeloopai/activeloop-credential-helper/internal/activeloop/activeloopfake"
)

const (
	ua       = "activeloop-credential-helper/v1.2.3"
	password = "correct horse battery staple"
)

var now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// start runs a fake with alice (tokens without exp) and carol (tokens that
// expire after a day), and a client of it with short timings.
func start(t *testing.T) (*activeloopfake.Server, *activeloop.Client) {
	t.Helper()
	f := activeloopfake.New(func() time.Time { return now })
	t.Cleanup(f.Close)
	f.AddUser(activeloopfake.User{Name: "alice", Password: password, Email: "alice@example.com"})
	f.AddUser(activeloopfake.User{Name: "carol", Password: password, TokenTTL: 24 * time.Hour})
	c, err := activeloop.New(f.URL, activeloop.Options{UserAgent: ua, Timeout: 2 * time.Second, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestActiveloopTokenSuccess(t *testing.T) {
	f, c := start(t)
	tok, err := c.Token(context.Background(), "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	if tok != activeloopfake.Token("alice", time.Time{}) {
		t.Errorf("token = %q, want the fake's token for alice", tok)
	}
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/api/user/token" || r.UserAgent != ua || r.ContentType != "application/json" {
		t.Errorf("request = %+v; want POST /api/user/token with User-Agent %q and a JSON body", r, ua)
	}
	if r.Body != `{"password":"correct horse battery staple","username":"alice"}` {
		t.Errorf("body = %s", r.Body)
	}
	if r.Authorization != "" {
		t.Errorf("a password login sent Authorization %q", r.Authorization)
	}
}

func TestActiveloopProfile(t *testing.T) {
	f, c := start(t)
	tok := activeloopfake.Token("alice", now.Add(time.Hour))
	p, err := c.Profile(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Username != "alice" {
		t.Errorf("username = %q, want alice", p.Username)
	}
	r := f.Requests()[0]
	if r.Method != "GET" || r.Path != "/api/user/profile" || r.Authorization != "Bearer "+tok || r.UserAgent != ua {
		t.Errorf("request = %+v; want GET /api/user/profile with the Bearer token", r)
	}
	// Older servers name the user in "name".
	p, err = c.Profile(context.Background(), activeloopfake.Token("oldserver-user", time.Time{}))
	if err != nil || p.Username != "oldserver-user" {
		t.Errorf("profile from an older server = %+v, %v", p, err)
	}
}

func TestActiveloopRegister(t *testing.T) {
	f, c := start(t)
	ctx := context.Background()
	if err := c.Register(ctx, "dave", "dave@example.com", password); err != nil {
		t.Fatal(err)
	}
	if !f.HasUser("dave") {
		t.Fatal("the fake has no dave after a registration")
	}
	if _, err := c.Token(ctx, "dave", password); err != nil {
		t.Errorf("login after registering: %v", err)
	}
	err := c.Register(ctx, "dave", "dave@example.com", password)
	var se *activeloop.StatusError
	if !errors.As(err, &se) || se.Status != 400 || !strings.Contains(err.Error(), "already taken") {
		t.Errorf("registering a taken username: %v; want a 400 with the server's description", err)
	}
}

func TestActiveloopErrors(t *testing.T) {
	f, c := start(t)
	_ = f
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() error
		is     error
		status int
		msg    string
	}{
		{
			name: "wrong password",
			call: func() error { _, err := c.Token(ctx, "alice", "wrong"); return err },
			is:   activeloop.ErrWrongPassword, msg: "wrong username or password",
		},
		{
			name: "unknown user",
			call: func() error { _, err := c.Token(ctx, "nobody", password); return err },
			is:   activeloop.ErrWrongPassword,
		},
		{
			name: "invalid token 401",
			call: func() error {
				_, err := c.Profile(ctx, "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImFsaWNlIn0.Zm9yZ2Vk")
				return err
			},
			is: activeloop.ErrInvalidToken,
		},
		{
			name: "expired token 401",
			call: func() error {
				_, err := c.Profile(ctx, activeloopfake.Token("alice", now.Add(-time.Second)))
				return err
			},
			is: activeloop.ErrInvalidToken,
		},
		{
			name: "public profile",
			call: func() error { _, err := c.Profile(ctx, activeloopfake.Token("public", time.Time{})); return err },
			is:   activeloop.ErrInvalidToken, msg: "anonymous",
		},
		{
			name:   "403",
			call:   func() error { _, err := c.Token(ctx, "forbidden", password); return err },
			status: 403, msg: "(not authorized): You are not authorized to access this resource",
		},
		{
			name:   "429",
			call:   func() error { _, err := c.Profile(ctx, activeloopfake.Token("ratelimited", time.Time{})); return err },
			status: 429, msg: "too many requests",
		},
		{
			name:   "500",
			call:   func() error { _, err := c.Token(ctx, "broken", password); return err },
			status: 500, msg: "server under maintenance",
		},
		{
			name:   "502 every time",
			call:   func() error { _, err := c.Token(ctx, "down", password); return err },
			status: 502, msg: "4 times",
		},
		{
			name: "malformed JSON",
			call: func() error { _, err := c.Token(ctx, "garbled", password); return err },
			is:   activeloop.ErrMalformed, msg: "not the JSON expected",
		},
		{
			name: "redirect to another origin",
			call: func() error { _, err := c.Token(ctx, "redirect", password); return err },
			is:   activeloop.ErrUnreachable, msg: "redirected to another origin (https://elsewhere.invalid)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %q", err, tt.is)
			}
			var se *activeloop.StatusError
			if tt.status != 0 && (!errors.As(err, &se) || se.Status != tt.status) {
				t.Errorf("error %q: want a StatusError %d", err, tt.status)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
}

func TestActiveloop502ThenSuccess(t *testing.T) {
	f, c := start(t)
	f.AddUser(activeloopfake.User{Name: "flaky", Password: password})
	tok, err := c.Token(context.Background(), "flaky", password)
	if err != nil {
		t.Fatalf("two 502s then 200: %v", err)
	}
	if tok == "" {
		t.Fatal("no token")
	}
	if n := len(f.Requests()); n != 3 {
		t.Errorf("%d requests, want 3 (two 502s, then the answer)", n)
	}
}

func TestActiveloopTimeout(t *testing.T) {
	f := activeloopfake.New(nil)
	t.Cleanup(f.Close)
	c, err := activeloop.New(f.URL, activeloop.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Token(context.Background(), "silent", password)
	if !errors.Is(err, activeloop.ErrTimeout) || !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Errorf("a server that never answers: %v; want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s, want about 200ms", d)
	}
}

func TestActiveloopContextCancel(t *testing.T) {
	_, c := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err := c.Token(ctx, "silent", password)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v; want context.Canceled", err)
	}
}

func TestActiveloopUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c, err := activeloop.New("http://"+addr, activeloop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(context.Background(), "alice", password)
	if !errors.Is(err, activeloop.ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("nothing listening: %v; want ErrUnreachable saying connection refused", err)
	}
}

func TestActiveloopSecretsRedacted(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	_, err := c.Token(ctx, "echo", password)
	if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("a server echoing the password: error %q", err)
	}
	tok := activeloopfake.Token("echo", time.Time{})
	_, err = c.Profile(ctx, tok)
	if err == nil || strings.Contains(err.Error(), tok) {
		t.Errorf("a server echoing the token: error %q", err)
	}
}

func TestActiveloopServerURL(t *testing.T) {
	for _, ok := range []string{
		"https://app.activeloop.ai", "https://app.activeloop.ai/", "HTTPS://App.Activeloop.AI",
		"http://localhost:7777", "http://127.0.0.1:8080", "http://127.1.2.3", "http://[::1]:9000",
	} {
		if _, err := activeloop.New(ok, activeloop.Options{}); err != nil {
			t.Errorf("New(%q): %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"http://app.activeloop.ai":          "refusing plain http",
		"http://10.0.0.1":                   "refusing plain http",
		"http://localhost.evil.example":     "refusing plain http",
		"ftp://app.activeloop.ai":           "scheme must be https",
		"https://user:pw@app.activeloop.ai": "must not contain a user name or password",
		"app.activeloop.ai":                 "invalid server URL",
		"":                                  "invalid server URL",
	} {
		_, err := activeloop.New(bad, activeloop.Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%q) = %v, want an error saying %q", bad, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("New(%q) error quotes the password: %v", bad, err)
		}
	}
}

func TestActiveloopPathPrefix(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path
		w.Write([]byte(`{"token":"eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImEifQ.c2ln"}`))
	}))
	defer srv.Close()
	c, err := activeloop.New(srv.URL+"/deeplake/", activeloop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	if got != "/deeplake/api/user/token" {
		t.Errorf("path = %q, want /deeplake/api/user/token", got)
	}
}

// A redirect on the same origin is followed; the Bearer token goes along.
func TestActiveloopSameOriginRedirect(t *testing.T) {
	var auth string
	mux := http.NewServeMux()
	mux.HandleFunc("/api/user/profile", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v2/profile", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/v2/profile", func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.Write([]byte(`{"_id":"alice","organizations":["alice"]}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := activeloop.New(srv.URL, activeloop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Profile(context.Background(), "tok"); err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer tok" {
		t.Errorf("Authorization after a same-origin redirect = %q", auth)
	}
}

// A redirect to another origin is never followed, so neither the password
// nor the token reaches it.
func TestActiveloopCrossOriginRedirect(t *testing.T) {
	var hits int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	// localhost and 127.0.0.1 are different origins.
	c, err := activeloop.New(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), activeloop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Profile(context.Background(), "tok"); err == nil {
		t.Error("a redirect to another origin was followed")
	}
	if _, err := c.Token(context.Background(), "alice", password); err == nil {
		t.Error("a redirect to another origin was followed")
	}
	if hits != 0 {
		t.Errorf("the other origin got %d requests", hits)
	}
}

func TestActiveloopCheckToken(t *testing.T) {
	for _, ok := range []string{
		activeloopfake.Token("alice", now), "abc.def.ghi", "opaque-api-token_1",
	} {
		if err := activeloop.CheckToken(ok); err != nil {
			t.Errorf("CheckToken(%q): %v", ok, err)
		}
	}
	public := activeloop.PublicTokenPrefix + strings.Repeat("_", 150)
	for bad, want := range map[string]string{
		"":                                "empty token",
		"abc def":                         "space at byte 3",
		"abc\ndef":                        "line break at byte 3",
		"abc\x00":                         "control",
		strings.Repeat("a", 1<<20):        "1048576 bytes",
		public:                            "anonymous public token",
		activeloop.PublicTokenPrefix + "": "anonymous public token",
	} {
		err := activeloop.CheckToken(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckToken(%.20q) = %v, want an error saying %q", bad, err, want)
		}
	}
}

func TestActiveloopCheckEmail(t *testing.T) {
	for _, ok := range []string{"alice@example.com", "a.b+c@sub.example.org"} {
		if err := activeloop.CheckEmail(ok); err != nil {
			t.Errorf("CheckEmail(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "alice", "alice@", "@example.com", "alice@localhost", "Alice <alice@example.com>", "alice@example.com ", "a@b.c\n"} {
		if err := activeloop.CheckEmail(bad); err == nil {
			t.Errorf("CheckEmail(%q) accepted it", bad)
		}
	}
}
