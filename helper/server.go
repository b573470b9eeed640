package helper

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DefaultServer is the Deep Lake server that hub:// and al:// paths live on.
const DefaultServer = "https://app.activeloop.ai"

// maxServerLen bounds a server URL; nothing legitimate comes close.
const maxServerLen = 2048

// Server is a server URL taken apart the way SPEC §5 matches it.
type Server struct {
	// Origin is the canonical origin: lower-case scheme and host, https when
	// no scheme was given, default port, userinfo, query and fragment dropped.
	Origin string
	// Path is the escaped path with trailing slashes removed; "" for none.
	Path string
}

// Key is the entry's identity in the store: two server URLs with the same
// Key are the same entry, so a second store replaces the first.
func (s Server) Key() string { return s.Origin + s.Path }

// Lookups lists the keys get tries, most specific first: the entry itself,
// then every ancestor path on the same origin, ending with the bare origin.
// Matching is by whole path segments, never by host or port.
func (s Server) Lookups() []string {
	keys := []string{s.Key()}
	p := s.Path
	for p != "" {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
		keys = append(keys, s.Origin+strings.TrimRight(p, "/"))
	}
	return keys
}

// ErrInvalidServer is wrapped by every ParseServer error.
var ErrInvalidServer = errors.New("invalid server URL")

// ParseServer canonicalises a server URL as given by docker, git or a person.
// The returned errors quote no more of the input than is safe: a server URL
// is not secret, but control characters are not echoed.
func ParseServer(raw string) (Server, error) {
	if raw == "" {
		return Server{}, fmt.Errorf("%w: empty", ErrInvalidServer)
	}
	if len(raw) > maxServerLen {
		return Server{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidServer, maxServerLen)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < 0x20 || c == 0x7f || c == ' ' {
			return Server{}, fmt.Errorf("%w: control character or space at byte %d", ErrInvalidServer, i)
		}
	}
	s := raw
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "https", s
	}
	scheme = strings.ToLower(scheme)
	if !validScheme(scheme) {
		return Server{}, fmt.Errorf("%w: scheme %q", ErrInvalidServer, scheme)
	}
	if scheme == "hub" || scheme == "al" {
		// A dataset path (hub://org/ds): the login lives on the default server.
		return ParseServer(DefaultServer)
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return Server{}, fmt.Errorf("%w: %s", ErrInvalidServer, parseReason(err))
	}
	if u.Opaque != "" || u.Host == "" {
		return Server{}, fmt.Errorf("%w: no host in %q", ErrInvalidServer, raw)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return Server{}, fmt.Errorf("%w: no host in %q", ErrInvalidServer, raw)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	if port := u.Port(); port != "" && port != defaultPort(scheme) {
		host += ":" + port
	}
	srv := Server{
		Origin: scheme + "://" + host,
		Path:   strings.TrimRight(u.EscapedPath(), "/"),
	}
	if len(srv.Key()) > maxServerLen {
		return Server{}, fmt.Errorf("%w: longer than %d bytes once escaped", ErrInvalidServer, maxServerLen)
	}
	return srv, nil
}

func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func defaultPort(scheme string) string {
	switch scheme {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// parseReason keeps url.Parse's reason without its quoted copy of the input.
func parseReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
