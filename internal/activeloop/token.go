package activeloop

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// MaxTokenLen bounds a token: Deep Lake's JWTs are well under 2 KiB, and
// every secure store keeps 16 KiB.
const MaxTokenLen = 16 << 10

// PublicTokenPrefix starts the anonymous token of deeplake ≥ 3.8.21,
// "PUBLIC_TOKEN_" and 150 underscores. It is not a login.
const PublicTokenPrefix = "PUBLIC_TOKEN_"

// ErrPublicToken is the anonymous token offered as a login.
var ErrPublicToken = errors.New("this is the anonymous public token, not a login: create an API token in the Deep Lake app, or log in with -u")

// CheckToken rejects what cannot be a Deep Lake token: empty, oversized,
// holding spaces or control characters, or the anonymous public token. Its
// errors never quote the token.
func CheckToken(tok string) error {
	switch {
	case tok == "":
		return errors.New("empty token")
	case len(tok) > MaxTokenLen:
		return fmt.Errorf("the token is %d bytes, longer than any Deep Lake token (at most %d)", len(tok), MaxTokenLen)
	case !utf8.ValidString(tok):
		return errors.New("the token is not valid UTF-8")
	}
	for i, r := range tok {
		switch {
		case r == ' ' || r == '\t':
			return fmt.Errorf("the token contains a space at byte %d: copy it again, without spaces", i)
		case r == '\n' || r == '\r':
			return fmt.Errorf("the token contains a line break at byte %d: give one token, on one line", i)
		case r < 0x20 || r == 0x7f || r > 0x7e:
			return fmt.Errorf("the token contains a control or non-ASCII character at byte %d", i)
		}
	}
	if IsPublicToken(tok) {
		return ErrPublicToken
	}
	return nil
}

// IsPublicToken reports the anonymous token: PUBLIC_TOKEN_ followed only by
// underscores.
func IsPublicToken(tok string) bool {
	rest, ok := strings.CutPrefix(tok, PublicTokenPrefix)
	return ok && strings.Trim(rest, "_") == ""
}

// CheckEmail accepts one plain address, user@domain, as a registration needs.
func CheckEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return fmt.Errorf("invalid email address %q: expected name@example.com", email)
	}
	_, domain, _ := strings.Cut(email, "@")
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return fmt.Errorf("invalid email address %q: expected name@example.com", email)
	}
	return nil
}

// CheckUsername rejects an empty username or one with spaces or control
// characters.
func CheckUsername(u string) error {
	if u == "" {
		return errors.New("empty username")
	}
	if len(u) > 256 {
		return errors.New("the username is longer than 256 bytes")
	}
	for i, r := range u {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("the username contains a space or control character at byte %d", i)
		}
	}
	return nil
}
