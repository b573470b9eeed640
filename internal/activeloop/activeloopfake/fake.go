// Package activeloopfake is an Activeloop auth API on loopback for tests: it
// answers POST /api/user/token, POST /api/user/register and GET
// /api/user/profile as the real server's contract says (see the activeloop
// package), and misbehaves on request.
//
// Misbehaviour is chosen by name, so that a test script can ask for it: the
// username of a login or registration, or the "id" claim of a token sent to
// the profile call.
//
//	forbidden    403 with a description
//	ratelimited  429
//	broken       500
//	flaky        502 twice, then the normal answer
//	down         502 every time
//	silent       never answers (until the client gives up or Close)
//	garbled      200 with a body that is not JSON
//	echo         401 whose description repeats the request's password or token
//	redirect     307 to another origin
//
// Tokens are JWTs signed with HS256 under a fixed test key; the profile call
// accepts only tokens so signed, with an exp (if any) after the fake's clock.
// A token whose id is "public" or "anon" gets a profile whose organizations
// are exactly ["public"], the anonymous user's; one whose id is
// "oldserver-user" gets its username in "name" instead of "_id", as older
// servers answer.
package activeloopfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// key signs the fake's tokens. It protects nothing.
var key = []byte("activeloopfake test signing key")

// User is an account of the fake server.
type User struct {
	Name     string
	Password string
	Email    string
	// TokenTTL is the lifetime written in the exp claim of the tokens a
	// password login issues; 0 issues tokens without exp.
	TokenTTL time.Duration
}

// Request is what the fake saw of one request.
type Request struct {
	Method, Path  string
	UserAgent     string
	Authorization string
	ContentType   string
	Body          string
}

// Server is a running fake.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string

	srv *httptest.Server
	now func() time.Time

	mu       sync.Mutex
	users    map[string]User
	requests []Request
	flaky    map[string]int
	quit     chan struct{}
	closed   bool
}

// New starts a fake on a loopback port. now is its clock, for the exp of
// the tokens it issues and checks; nil means time.Now.
func New(now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{
		now:   now,
		users: map[string]User{},
		flaky: map[string]int{},
		quit:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/user/token", s.token)
	mux.HandleFunc("/api/user/register", s.register)
	mux.HandleFunc("/api/user/profile", s.profile)
	s.srv = httptest.NewServer(s.record(mux))
	s.URL = s.srv.URL
	return s
}

// Close stops the server, releasing requests that are kept waiting.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.quit)
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// AddUser creates or replaces an account.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Name] = u
}

// HasUser reports whether an account exists (registered or added).
func (s *Server) HasUser(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.users[name]
	return ok
}

// Requests returns every request seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Token mints a token the fake accepts, for the user id, expiring at exp
// (no exp claim when exp is zero).
func Token(id string, exp time.Time) string {
	claims := map[string]any{"id": id}
	if !exp.IsZero() {
		claims["exp"] = exp.Unix()
	}
	return Sign(claims)
}

// Sign mints a token with the given claims, signed as the fake expects.
func Sign(claims map[string]any) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	unsigned := head + "." + enc.EncodeToString(payload)
	return unsigned + "." + enc.EncodeToString(mac(unsigned))
}

func mac(s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

// verify returns the claims of a token the fake signed.
func verify(tok string) (map[string]any, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac(parts[0]+"."+parts[1])) {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil {
		return nil, false
	}
	return claims, true
}

func (s *Server) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Method:        r.Method,
			Path:          r.URL.Path,
			UserAgent:     r.UserAgent(),
			Authorization: r.Header.Get("Authorization"),
			ContentType:   r.Header.Get("Content-Type"),
			Body:          string(body),
		})
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, desc string) {
	writeJSON(w, status, map[string]string{"description": desc})
}

// misbehave answers as the behaviour named by name asks and reports whether
// it did; secret is what "echo" repeats.
func (s *Server) misbehave(w http.ResponseWriter, r *http.Request, name, secret string) bool {
	switch name {
	case "forbidden":
		fail(w, http.StatusForbidden, "You are not authorized to access this resource")
	case "ratelimited":
		fail(w, http.StatusTooManyRequests, "Too many requests")
	case "broken":
		fail(w, http.StatusInternalServerError, "Internal server error")
	case "down":
		fail(w, http.StatusBadGateway, "Bad gateway")
	case "flaky":
		s.mu.Lock()
		s.flaky[r.URL.Path]++
		n := s.flaky[r.URL.Path]
		s.mu.Unlock()
		if n > 2 {
			return false
		}
		fail(w, http.StatusBadGateway, "Bad gateway")
	case "silent":
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
	case "garbled":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"token": "eyJ`)
	case "echo":
		fail(w, http.StatusUnauthorized, "Invalid credentials: "+secret+" was rejected")
	case "redirect":
		http.Redirect(w, r, "https://elsewhere.invalid"+r.URL.Path, http.StatusTemporaryRedirect)
	default:
		return false
	}
	return true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	var in struct{ Username, Password string }
	if json.NewDecoder(r.Body).Decode(&in) != nil {
		fail(w, http.StatusBadRequest, "Invalid JSON")
		return
	}
	if s.misbehave(w, r, in.Username, in.Password) {
		return
	}
	s.mu.Lock()
	u, ok := s.users[in.Username]
	s.mu.Unlock()
	if !ok || in.Password == "" || u.Password != in.Password {
		fail(w, http.StatusUnauthorized, "Invalid username or password")
		return
	}
	var exp time.Time
	if u.TokenTTL > 0 {
		exp = s.now().Add(u.TokenTTL)
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": Token(u.Name, exp)})
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	var in struct{ Username, Email, Password string }
	if json.NewDecoder(r.Body).Decode(&in) != nil {
		fail(w, http.StatusBadRequest, "Invalid JSON")
		return
	}
	if s.misbehave(w, r, in.Username, in.Password) {
		return
	}
	if in.Username == "" || in.Password == "" || !strings.Contains(in.Email, "@") {
		fail(w, http.StatusBadRequest, "Username, email and password are required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[in.Username]; ok {
		fail(w, http.StatusBadRequest, "Username "+in.Username+" is already taken")
		return
	}
	s.users[in.Username] = User{Name: in.Username, Password: in.Password, Email: in.Email}
	writeJSON(w, http.StatusOK, map[string]string{"message": "registered"})
}

func (s *Server) profile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		fail(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		fail(w, http.StatusUnauthorized, "Authentication failed. Please try logging in again.")
		return
	}
	claims, ok := verify(tok)
	id, _ := claims["id"].(string)
	if ok && s.misbehave(w, r, id, tok) {
		return
	}
	if exp, has := claims["exp"].(float64); has && !s.now().Before(time.Unix(int64(exp), 0)) {
		ok = false
	}
	if !ok || id == "" {
		fail(w, http.StatusUnauthorized, "Authentication failed. Please try logging in again.")
		return
	}
	switch id {
	case "public", "anon":
		writeJSON(w, http.StatusOK, map[string]any{"_id": id, "organizations": []string{"public"}})
	case "oldserver-user":
		writeJSON(w, http.StatusOK, map[string]any{"name": id, "organizations": []string{id, "public"}})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"_id": id, "organizations": []string{id, "public"}})
	}
}
