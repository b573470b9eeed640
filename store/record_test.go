package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	r := Record{
		ServerURL: "https://app.activeloop.ai/", Username: "ü/..", Secret: []byte("tok\n\x00\xff"),
		Obtained: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Source: "docker",
		Expires: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	b, err := MarshalRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(`{"v":1,`)) {
		t.Fatalf("record does not start with its version: %s", b)
	}
	got, err := UnmarshalRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ServerURL != r.ServerURL || got.Username != r.Username || !bytes.Equal(got.Secret, r.Secret) ||
		!got.Obtained.Equal(r.Obtained) || got.Source != r.Source || !got.Expires.Equal(r.Expires) {
		t.Fatalf("round trip: %+v, want %+v", got, r)
	}
	// Unknown times stay unknown.
	b, _ = MarshalRecord(Record{ServerURL: "s", Username: "u"})
	if strings.Contains(string(b), "expires") || strings.Contains(string(b), "obtained") {
		t.Fatalf("zero times written: %s", b)
	}
}

func TestUnmarshalRecordErrors(t *testing.T) {
	for in, want := range map[string]string{
		`secret-token-here`:                  "not a JSON record",
		`{"server_url":"s","secret":"c2Vj"}`: "no record version",
		`{"v":99,"secret":"c2Vj"}`:           "upgrade",
	} {
		_, err := UnmarshalRecord([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("UnmarshalRecord(%q) = %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-token") {
			t.Errorf("error quotes the item: %v", err)
		}
	}
	if _, err := UnmarshalRecord([]byte("garbage")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage: %v, want ErrCorrupt", err)
	}
}

func TestEscapeKey(t *testing.T) {
	for in, want := range map[string]string{
		"https://app.activeloop.ai": "https%3A%2F%2Fapp.activeloop.ai",
		"https://h.example/v1":      "https%3A%2F%2Fh.example%2Fv1",
		"../../etc/passwd":          "%2E%2E%2F.%2E%2Fetc%2Fpasswd",
		".hidden":                   "%2Ehidden",
		"a..b":                      "a.%2Eb",
		"ü":                         "%C3%BC",
		"under_score-dash":          "under_score-dash",
		"~tilde%":                   "%7Etilde%25",
	} {
		if got := EscapeKey(in); got != want {
			t.Errorf("EscapeKey(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("x/", 300)
	k := EscapeKey(long)
	if len(k) > maxEscapedKey || !strings.Contains(k, "~") {
		t.Fatalf("long key escaped to %d bytes: %q", len(k), k)
	}
	if EscapeKey(long+"y") == k {
		t.Fatal("two long keys collide")
	}
}

func FuzzEscapeKey(f *testing.F) {
	f.Add("https://app.activeloop.ai/../x")
	f.Add(strings.Repeat("é", 200))
	f.Fuzz(func(t *testing.T, key string) {
		k := EscapeKey(key)
		if k == "" && key != "" || len(k) > maxEscapedKey || strings.HasPrefix(k, ".") || strings.Contains(k, "..") {
			t.Fatalf("EscapeKey(%q) = %q", key, k)
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._%-~", c) >= 0) {
				t.Fatalf("EscapeKey(%q) = %q holds %q", key, k, c)
			}
		}
	})
}
