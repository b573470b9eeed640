package store

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxEscapedKey keeps an escaped key, plus a backend's prefix, well inside the
// 255-byte file-name limit of pass and the file backend.
const maxEscapedKey = 200

// EscapeKey turns a helper key (a server URL) into a backend-safe name: every
// byte outside [A-Za-z0-9_-] and every '.' that would start the name or follow
// another '.' is percent-encoded, so "/" and ".." cannot reach a file system.
// A name longer than maxEscapedKey is cut and suffixed with a hash of the whole
// key. Names are never turned back into keys: the record keeps its server URL.
func EscapeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c == '.' && i > 0 && key[i-1] != '.':
			b.WriteByte(c)
		default:
			const hexdigits = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hexdigits[c>>4])
			b.WriteByte(hexdigits[c&15])
		}
	}
	s := b.String()
	if len(s) <= maxEscapedKey {
		return s
	}
	sum := sha256.Sum256([]byte(key))
	return s[:maxEscapedKey-33] + "~" + hex.EncodeToString(sum[:16])
}
