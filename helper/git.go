package helper

// The git credential helper protocol: gitcredentials(7), "CUSTOM HELPERS",
// and the input/output format of git-credential(1).
//
// git runs the helper with one operation, get, store or erase, and writes a
// credential description on its stdin: key=value lines ending at a blank line
// or end of file. For get the helper answers on stdout in the same format;
// git discards the output of store and erase. A helper that has nothing to
// say exits 0 with no output, and git moves on to the next helper or a
// prompt. What the helper writes on stderr reaches the person running git.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// MaxGitLine is the longest line of a credential description, its newline
// included: git-credential(1) lets implementations refuse longer ones.
const MaxGitLine = 65535

// GitOperation reports whether op is one the helper acts on. git may grow
// new operations; a helper must ignore the ones it does not know.
func GitOperation(op string) bool {
	return op == "get" || op == "store" || op == "erase"
}

// GitAttributes is a credential description as git writes it: the value of
// every single-valued attribute, and the values of every multi-valued one
// (a key ending in "[]"), url= already taken apart into its components.
type GitAttributes struct {
	// Values holds single-valued attributes by key; a later line replaces
	// an earlier one. Present with an empty value differs from absent:
	// "username=" is an empty username.
	Values map[string]string
	// Lists holds multi-valued attributes by key, "[]" included, in the
	// order given. An empty value resets the list, so no list holds an
	// empty value and none is empty.
	Lists map[string][]string
}

// Get returns the value of a single-valued attribute and whether it is set.
func (a GitAttributes) Get(key string) (string, bool) {
	v, ok := a.Values[key]
	return v, ok
}

func (a *GitAttributes) set(key, value string) {
	if strings.HasSuffix(key, "[]") {
		if value == "" {
			delete(a.Lists, key)
			return
		}
		if a.Lists == nil {
			a.Lists = map[string][]string{}
		}
		a.Lists[key] = append(a.Lists[key], value)
		return
	}
	if a.Values == nil {
		a.Values = map[string]string{}
	}
	a.Values[key] = value
}

// ErrGitInput is wrapped by every ReadGitAttributes error. The errors name
// the line and never quote it: a description carries a password.
var ErrGitInput = errors.New("malformed credential description on stdin")

// ReadGitAttributes reads one credential description from r, up to a blank
// line or end of file, and no further. It reads at most MaxInput bytes.
//
// As git's own reader: a CR before the newline is dropped; a line without
// "=" is an error; url=<url> replaces everything read so far with the URL's
// components (protocol, host with its port, username and password, path
// without its leading and trailing slashes), percent-decoded.
func ReadGitAttributes(r io.Reader) (GitAttributes, error) {
	var a GitAttributes
	br := bufio.NewReaderSize(io.LimitReader(r, MaxInput+1), MaxGitLine+1)
	total := 0
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		total += len(line)
		size := len(line) // with its newline, even when the input ends without one
		if !bytes.HasSuffix(line, []byte("\n")) {
			size++
		}
		switch {
		case total > MaxInput:
			return GitAttributes{}, ErrInputTooLarge
		case errors.Is(err, bufio.ErrBufferFull) || size > MaxGitLine:
			return GitAttributes{}, fmt.Errorf("%w: line %d is longer than %d bytes", ErrGitInput, n, MaxGitLine)
		case err != nil && !errors.Is(err, io.EOF):
			return GitAttributes{}, err
		}
		if l, ok := bytes.CutSuffix(line, []byte("\n")); ok {
			line, _ = bytes.CutSuffix(l, []byte("\r"))
		}
		if len(line) == 0 {
			return a, nil // a blank line, or the end of the input
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return GitAttributes{}, fmt.Errorf("%w: line %d holds a NUL byte", ErrGitInput, n)
		}
		key, value, ok := strings.Cut(string(line), "=")
		if !ok {
			return GitAttributes{}, fmt.Errorf("%w: line %d is not key=value", ErrGitInput, n)
		}
		if key == "url" {
			u, err := gitURLAttributes(value)
			if err != nil {
				return GitAttributes{}, fmt.Errorf("%w: url on line %d: %v", ErrGitInput, n, err)
			}
			a = u
		} else {
			a.set(key, value)
		}
		if errors.Is(err, io.EOF) {
			return a, nil
		}
	}
}

// gitURLAttributes takes a URL apart the way git's credential_from_url does,
// for a url= line. Its errors do not quote the URL, which may hold a
// password.
func gitURLAttributes(raw string) (GitAttributes, error) {
	var a GitAttributes
	i := strings.Index(raw, "://")
	if i <= 0 {
		return a, errors.New("no scheme")
	}
	a.set("protocol", raw[:i])
	rest := raw[i+3:]
	// A query or fragment before any slash ends the host too.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host := rest[:end]
	if at := strings.IndexByte(rest, '@'); at >= 0 && at < end {
		userinfo := rest[:at]
		host = rest[at+1 : end]
		if user, pass, ok := strings.Cut(userinfo, ":"); ok {
			a.set("username", gitURLDecode(user))
			a.set("password", gitURLDecode(pass))
		} else {
			a.set("username", gitURLDecode(userinfo))
		}
	}
	a.set("host", gitURLDecode(host))
	if p := strings.TrimLeft(rest[end:], "/"); p != "" {
		p = gitURLDecode(p)
		// Trailing slashes go, but never the path's first character.
		for len(p) > 1 && p[len(p)-1] == '/' {
			p = p[:len(p)-1]
		}
		a.set("path", p)
	}
	for _, k := range []string{"protocol", "host", "username", "password", "path"} {
		if v, ok := a.Values[k]; ok && strings.ContainsAny(v, "\n\x00") {
			return GitAttributes{}, fmt.Errorf("its %s holds a newline or NUL", k)
		}
	}
	return a, nil
}

// gitURLDecode decodes %XX escapes and leaves anything else as it is, "+"
// and malformed escapes included, as git's url_decode does.
func gitURLDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// gitKeyOrder is the order git itself writes the attributes it knows
// (credential_write): capabilities first, since values depend on them.
var gitKeyOrder = []string{
	"authtype", "credential", "ephemeral",
	"protocol", "host", "path", "username", "password",
	"oauth_refresh_token", "password_expiry_utc", "continue",
}

// MarshalGit writes a as a credential description: capability[] first, then
// the attributes git knows in git's order, then any others sorted by key.
// It fails, writing nothing, if the description cannot be read back as it
// is: a key or value holding a newline or NUL, a key holding "=", a value
// ending in CR, a line longer than MaxGitLine, or a url attribute.
func (a GitAttributes) MarshalGit() ([]byte, error) {
	var buf bytes.Buffer
	write := func(key, value string) error {
		switch {
		case strings.ContainsAny(key, "=\n\x00"):
			return fmt.Errorf("attribute key %q cannot be sent: it holds =, a newline or NUL", key)
		case strings.ContainsAny(value, "\n\x00"):
			return fmt.Errorf("the value of %s cannot be sent: it holds a line break or NUL", key)
		case strings.HasSuffix(value, "\r"):
			return fmt.Errorf("the value of %s cannot be sent: it ends in a carriage return", key)
		case len(key)+len(value)+2 > MaxGitLine:
			return fmt.Errorf("the value of %s cannot be sent: longer than a line may be", key)
		}
		buf.WriteString(key)
		buf.WriteByte('=')
		buf.WriteString(value)
		buf.WriteByte('\n')
		return nil
	}
	var singles, lists []string
	for k := range a.Values {
		switch {
		case k == "url":
			return nil, errors.New("url is read as its components and cannot be sent as such")
		case strings.HasSuffix(k, "[]"):
			return nil, fmt.Errorf("attribute key %q ends in [] but holds one value", k)
		}
		if !slices.Contains(gitKeyOrder, k) {
			singles = append(singles, k)
		}
	}
	for k, vs := range a.Lists {
		if !strings.HasSuffix(k, "[]") {
			return nil, fmt.Errorf("attribute key %q holds a list but does not end in []", k)
		}
		if len(vs) == 0 || slices.Contains(vs, "") {
			return nil, fmt.Errorf("the list %s holds an empty value, which would reset it", k)
		}
		if k != "capability[]" {
			lists = append(lists, k)
		}
	}
	sort.Strings(singles)
	sort.Strings(lists)
	for _, v := range a.Lists["capability[]"] {
		if err := write("capability[]", v); err != nil {
			return nil, err
		}
	}
	for _, k := range append(slices.Clone(gitKeyOrder), singles...) {
		if v, ok := a.Values[k]; ok {
			if err := write(k, v); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range lists {
		for _, v := range a.Lists[k] {
			if err := write(k, v); err != nil {
				return nil, err
			}
		}
	}
	return buf.Bytes(), nil
}

// gitRequest is what one request is about: the server, and the account
// fields git sent, if any.
type gitRequest struct {
	serverURL string // protocol://host[/path], as recorded in the store
	server    Server
	username  string
	hasUser   bool
	password  string
	hasPass   bool
	expires   time.Time // password_expiry_utc; zero when absent
}

// gitRequestFrom reads the request in a. ok is false when it names no
// network server: no protocol or host, like git's protocol=cert requests for
// a certificate's passphrase, or a hub:// or al:// dataset path, which
// ParseServer reads as the default server whatever its host. Those are not
// this helper's to answer.
func gitRequestFrom(a GitAttributes) (req gitRequest, ok bool, err error) {
	protocol, _ := a.Get("protocol")
	host, _ := a.Get("host")
	if protocol == "" || host == "" {
		return req, false, nil
	}
	if p := strings.ToLower(protocol); p == "hub" || p == "al" {
		return req, false, nil
	}
	path, _ := a.Get("path")
	req.serverURL, err = gitServerURL(protocol, host, path)
	if err != nil {
		return req, false, err
	}
	if req.server, err = ParseServer(req.serverURL); err != nil {
		return req, false, err
	}
	req.username, req.hasUser = a.Get("username")
	req.password, req.hasPass = a.Get("password")
	if s, ok := a.Get("password_expiry_utc"); ok {
		// As git: anything but a positive number of seconds is no expiry.
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 1<<40 {
			req.expires = time.Unix(n, 0).UTC()
		}
	}
	return req, true, nil
}

// gitServerURL builds the server URL of a request from its components. The
// host stands alone: anything that would make a URL parser read part of it
// as a path, a user or another host is refused, so that a request can only
// ever match entries of the host git names.
func gitServerURL(protocol, host, path string) (string, error) {
	if !validScheme(strings.ToLower(protocol)) {
		return "", fmt.Errorf("%w: protocol %q", ErrInvalidServer, protocol)
	}
	if i := strings.IndexFunc(host, func(r rune) bool {
		return strings.ContainsRune("/?#@\\", r) || r <= ' ' || r == 0x7f
	}); i >= 0 {
		return "", fmt.Errorf("%w: host has a character not allowed in a host name at byte %d", ErrInvalidServer, i)
	}
	u := protocol + "://" + host
	if path != "" {
		u += (&url.URL{Path: "/" + path}).EscapedPath()
	}
	return u, nil
}

// Git runs one operation of git's credential helper protocol on the
// description read from in. get writes the answer on out: username,
// password and password_expiry_utc (when the expiry is known), or nothing.
// An operation git may add later, unknown here, does nothing.
//
// The answer never echoes capabilities: the helper keeps passwords, not
// pre-encoded credentials, so git ≥ 2.46's authtype and credential fields
// are read and ignored, and a description holding only those has nothing to
// store.
//
// A returned error is for the person: the caller prints it on stderr and
// exits 1. It never holds a password.
func (h *Helper) Git(ctx context.Context, op string, in io.Reader, out io.Writer) error {
	if !GitOperation(op) {
		return nil
	}
	a, err := ReadGitAttributes(in)
	if err != nil {
		return err
	}
	req, ok, err := gitRequestFrom(a)
	if err != nil || !ok {
		return err
	}
	switch op {
	case "get":
		return h.gitGet(ctx, req, out)
	case "store":
		return h.gitStore(ctx, req)
	default:
		return h.gitErase(ctx, req)
	}
}

// gitGet answers with what a docker get answers for the same server: the
// stored entry for the server or the longest path prefix on its origin
// (SPEC §5), or for the default server the token resolved as SPEC §7 says.
func (h *Helper) gitGet(ctx context.Context, req gitRequest, out io.Writer) error {
	r, err := LookupForGet(ctx, h.Store, req.server)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if req.hasUser && req.username != r.Username {
		return nil // another account on this server: not ours to answer
	}
	exp := RecordExpires(r)
	if IsExpired(exp, h.now()) {
		fmt.Fprintf(h.stderr(), "the credentials for %s expired at %s; log in again\n", req.serverURL, FormatTime(exp))
		return nil
	}
	ans := GitAttributes{Values: map[string]string{
		"username": r.Username,
		"password": string(r.Secret),
	}}
	if !exp.IsZero() {
		ans.Values["password_expiry_utc"] = strconv.FormatInt(exp.Unix(), 10)
	}
	b, err := ans.MarshalGit()
	if err != nil {
		return fmt.Errorf("the credentials stored for %s cannot be given to git: %w", req.serverURL, err)
	}
	_, err = out.Write(b)
	return err
}

func (h *Helper) gitStore(ctx context.Context, req gitRequest) error {
	if !req.hasUser || !req.hasPass {
		// Nothing to keep: git ≥ 2.46 may offer only a pre-encoded
		// credential, which is not a password.
		return nil
	}
	if !utf8.ValidString(req.username) {
		return errors.New("the username is not valid UTF-8: not stored")
	}
	// git stores back what a get just gave it after every successful
	// request: leave that entry as it is, with its source and expiry, spare
	// the store a write, and never copy a token from ACTIVELOOP_TOKEN or
	// the plaintext file into the store.
	r, err := LookupForGet(ctx, h.Store, req.server)
	switch {
	case err == nil && r.Username == req.username && string(r.Secret) == req.password:
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	expires := req.expires
	if expires.IsZero() {
		expires = TokenExpiry(req.password)
	}
	return h.Store.Put(ctx, req.server.Key(), store.Record{
		ServerURL: req.serverURL,
		Username:  req.username,
		Secret:    []byte(req.password),
		Obtained:  h.now(),
		Source:    "git",
		Expires:   expires,
	})
}

// gitErase removes the entry of the request's server when it matches what
// git sent: the username, and the password, when given. git sends the
// password it was refused with, so an entry holding another password is
// left alone (t/lib-credential.sh: "does not erase a password distinct from
// input"). An entry found by path prefix, not stored for this very server,
// is erased only when git names its password: it is then the credential
// the server just refused. Only stored entries are erased: a token from
// ACTIVELOOP_TOKEN is not the store's to forget.
func (h *Helper) gitErase(ctx context.Context, req gitRequest) error {
	r, err := h.Store.Lookup(ctx, req.server.Lookups())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	srv, err := ParseServer(r.ServerURL)
	if err != nil {
		return fmt.Errorf("stored entry for %q: %w", r.ServerURL, err)
	}
	key := srv.Key()
	switch {
	case req.hasUser && req.username != r.Username,
		req.hasPass && req.password != string(r.Secret),
		key != req.server.Key() && !req.hasPass:
		return nil
	}
	return h.Store.Delete(ctx, key)
}
