// Package activeloop is the client of the Activeloop (Deep Lake) auth API:
// a token from a username and password (POST /api/user/token), a new account
// (POST /api/user/register) and the owner of a token (GET /api/user/profile).
//
// Every call takes a context and has an overall deadline; a 502 is retried up
// to three times with a short backoff. Plain http is refused except on
// loopback. A token is sent as a Bearer credential only to the server the
// client was made for: redirects to another origin are refused, never
// followed with the header or a password in the body. No error carries a
// password or a token, even when the server echoes one back.
package activeloop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one call, retries included.
const DefaultTimeout = 30 * time.Second

// DefaultRetryBackoff is the wait before the first retry of a 502; each
// later retry waits twice as long as the one before.
const DefaultRetryBackoff = 250 * time.Millisecond

// retries502 is how many times a 502 is retried, as the Python client did.
const retries502 = 3

// maxBody caps what is read of an answer; the auth API's answers are small.
const maxBody = 1 << 20

var (
	// ErrWrongPassword is a 401 to a password login.
	ErrWrongPassword = errors.New("wrong username or password")
	// ErrInvalidToken is a token the server does not accept: a 401 to the
	// profile call, or a profile of the anonymous "public" user.
	ErrInvalidToken = errors.New("the server does not accept this token (revoked, expired or mistyped?)")
	// ErrUnreachable wraps errors that kept a request from reaching the
	// server: DNS, refused connections, TLS.
	ErrUnreachable = errors.New("cannot reach the server")
	// ErrTimeout is a server that did not answer within the deadline.
	ErrTimeout = errors.New("the server did not answer in time")
	// ErrMalformed is an answer that is not the JSON the API promises.
	ErrMalformed = errors.New("unexpected answer from the server")
	// ErrInsecure is a plain http URL that is not on loopback.
	ErrInsecure = errors.New("refusing plain http: use https (http is allowed only on loopback)")
)

// StatusError is an answer with an HTTP status the call did not expect.
type StatusError struct {
	Status int
	// Description is the server's message (the error body's "description"),
	// cleaned of control characters and of any secret of the request.
	Description string
	// Attempts is how many requests were made (more than one after 502s).
	Attempts int
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("the server answered %d (%s)", e.Status, statusMeaning(e.Status))
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" %d times", e.Attempts)
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// statusMeaning follows the Python client's mapping of statuses to advice.
func statusMeaning(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad request"
	case http.StatusUnauthorized:
		return "authentication failed"
	case http.StatusForbidden:
		return "not authorized"
	case http.StatusNotFound:
		return "not found: is this a Deep Lake server?"
	case http.StatusUnprocessableEntity:
		return "unprocessable request"
	case http.StatusLocked:
		return "locked"
	case http.StatusTooManyRequests:
		return "too many requests: wait a while and try again"
	case http.StatusBadGateway:
		return "bad gateway: try again later"
	case http.StatusGatewayTimeout:
		return "gateway timeout: try again later"
	}
	if status >= 500 {
		return "server under maintenance: try again later"
	}
	return "unexpected status"
}

// Options tune a Client; the zero value is the production setting.
type Options struct {
	// UserAgent is sent on every request; "activeloop-credential-helper"
	// when empty.
	UserAgent string
	// Timeout bounds each call, retries included; DefaultTimeout when 0.
	Timeout time.Duration
	// RetryBackoff is the wait before the first retry of a 502;
	// DefaultRetryBackoff when 0.
	RetryBackoff time.Duration
	// Transport carries the requests; http.DefaultTransport's settings when
	// nil.
	Transport http.RoundTripper
}

// Client talks to one Activeloop server.
type Client struct {
	base    *url.URL // scheme, host and path prefix of the API
	origin  string
	hc      *http.Client
	ua      string
	timeout time.Duration
	backoff time.Duration
}

// New returns a client of the server at rawURL (for example
// https://app.activeloop.ai). The URL must be https, or http on a loopback
// address, and hold no user name or password.
func New(rawURL string, o Options) (*Client, error) {
	u, err := CheckServerURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:    u,
		origin:  u.Scheme + "://" + u.Host,
		ua:      o.UserAgent,
		timeout: o.Timeout,
		backoff: o.RetryBackoff,
	}
	if c.ua == "" {
		c.ua = "activeloop-credential-helper"
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.backoff <= 0 {
		c.backoff = DefaultRetryBackoff
	}
	tr := o.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = http.ProxyFromEnvironment
		tr = t
	}
	c.hc = &http.Client{Transport: tr, CheckRedirect: c.checkRedirect}
	return c, nil
}

// Server is the origin the client talks to, e.g. https://app.activeloop.ai.
func (c *Client) Server() string { return c.origin }

// CheckServerURL parses an Activeloop server URL and refuses what the client
// must not talk to: other schemes, plain http off loopback, credentials in
// the URL. The query and fragment are dropped.
func CheckServerURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("invalid server URL %q: expected e.g. https://app.activeloop.ai", rawURL)
	}
	if u.User != nil {
		return nil, errors.New("invalid server URL: it must not contain a user name or password")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%w: %s", ErrInsecure, u.Scheme+"://"+u.Host)
		}
	default:
		return nil, fmt.Errorf("invalid server URL %q: the scheme must be https", rawURL)
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment, u.RawFragment = "", "", "", ""
	return u, nil
}

// IsLoopback reports whether host (without port) is localhost or a loopback
// address: 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

// checkRedirect follows a redirect only on the client's own origin: the
// request carries a password or a Bearer token that belongs to that server.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	if o := req.URL.Scheme + "://" + req.URL.Host; !strings.EqualFold(o, c.origin) {
		return fmt.Errorf("the server redirected to another origin (%s): refusing to send credentials there", o)
	}
	return nil
}

// Token logs in with a username and password and returns the token the
// server issues. A 401 is ErrWrongPassword.
func (c *Client) Token(ctx context.Context, username, password string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	body := map[string]string{"username": username, "password": password}
	err := c.call(ctx, http.MethodPost, "/api/user/token", body, "", &out, password)
	if se := (*StatusError)(nil); errors.As(err, &se) && se.Status == http.StatusUnauthorized {
		return "", fmt.Errorf("%w (%s)", ErrWrongPassword, se.Error())
	}
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(out.Token)
	if err := CheckToken(tok); err != nil {
		return "", fmt.Errorf("%w: the token it issued is unusable: %v", ErrMalformed, err)
	}
	return tok, nil
}

// Register creates an account. The answer's body is ignored: log in with
// Token afterwards.
func (c *Client) Register(ctx context.Context, username, email, password string) error {
	body := map[string]string{"username": username, "email": email, "password": password}
	return c.call(ctx, http.MethodPost, "/api/user/register", body, "", nil, password)
}

// Profile is who a token belongs to.
type Profile struct {
	Username      string
	Organizations []string
}

// Profile returns the owner of token. A 401, or the profile of the anonymous
// user (organizations exactly ["public"]), is ErrInvalidToken.
func (c *Client) Profile(ctx context.Context, token string) (Profile, error) {
	var out struct {
		ID            string   `json:"_id"`
		Name          string   `json:"name"`
		Username      string   `json:"username"`
		Organizations []string `json:"organizations"`
	}
	err := c.call(ctx, http.MethodGet, "/api/user/profile", nil, token, &out, token)
	if se := (*StatusError)(nil); errors.As(err, &se) && se.Status == http.StatusUnauthorized {
		return Profile{}, fmt.Errorf("%w (%s)", ErrInvalidToken, se.Error())
	}
	if err != nil {
		return Profile{}, err
	}
	if len(out.Organizations) == 1 && out.Organizations[0] == "public" {
		return Profile{}, fmt.Errorf("%w (it is the anonymous public user's)", ErrInvalidToken)
	}
	p := Profile{Username: out.ID, Organizations: out.Organizations}
	for _, n := range []string{out.Name, out.Username} {
		if p.Username == "" {
			p.Username = n
		}
	}
	if p.Username == "" {
		return Profile{}, fmt.Errorf("%w: the profile names no user", ErrMalformed)
	}
	if p.Username == "public" {
		return Profile{}, fmt.Errorf("%w (it is the anonymous public user's)", ErrInvalidToken)
	}
	return p, nil
}

// call makes one API call under the client's deadline, retrying 502s, and
// decodes a 2xx JSON answer into out (when out is not nil). secrets are
// removed from anything of the answer that goes into an error.
func (c *Client) call(ctx context.Context, method, path string, in any, token string, out any, secrets ...string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return err
		}
	}
	endpoint := c.base.JoinPath(path).String()
	for attempt := 1; ; attempt++ {
		status, body, err := c.once(ctx, method, endpoint, payload, token)
		if err != nil {
			return c.transportError(ctx, err)
		}
		if status == http.StatusBadGateway && attempt <= retries502 {
			wait := c.backoff << (attempt - 1)
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return c.transportError(ctx, ctx.Err())
			}
		}
		if status < 200 || status > 299 {
			return &StatusError{Status: status, Description: description(body, secrets), Attempts: attempt}
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%w: %s %s answered %d with a body that is not the JSON expected", ErrMalformed, method, path, status)
		}
		return nil
	}
}

// once sends one request and reads its answer.
func (c *Client) once(ctx context.Context, method, endpoint string, payload []byte, token string) (int, []byte, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// transportError explains why no answer came. The URL in a url.Error holds
// nothing secret, but its reason is kept and the URL shortened to the origin.
func (c *Client) transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s did not answer within %s", ErrTimeout, c.origin, c.timeout)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%w %s: %v", ErrUnreachable, c.origin, err)
}

// description extracts the server's message from an error body: its
// "description" field, or failing that a short plain-text body. Control
// characters are dropped, the length capped and secrets redacted: a server
// may echo the request.
func description(body []byte, secrets []string) string {
	var e struct {
		Description any `json:"description"`
		Message     any `json:"message"`
		Error       any `json:"error"`
	}
	var msg string
	if json.Unmarshal(body, &e) == nil {
		for _, v := range []any{e.Description, e.Message, e.Error} {
			if s, ok := v.(string); ok && s != "" {
				msg = s
				break
			}
		}
	} else if len(body) <= 200 && !bytes.ContainsAny(body, "<{") {
		msg = string(body)
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return ' '
		}
		return r
	}, msg)
	msg = strings.Join(strings.Fields(msg), " ")
	const maxLen = 300
	if len(msg) > maxLen {
		cut := maxLen
		for cut > 0 && msg[cut]&0xC0 == 0x80 {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
