package helper

import (
	"encoding/base64"
	"testing"
	"time"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestTokenExpiry(t *testing.T) {
	tests := []struct {
		token string
		want  time.Time
	}{
		{"h." + b64(`{"exp":1700000000}`) + ".s", time.Unix(1700000000, 0).UTC()},
		{"h." + b64(`{"exp":1700000000.5,"id":"x"}`) + ".s", time.Unix(1700000000, 0).UTC()},
		{"h." + b64(`{"id":"x"}`) + ".s", time.Time{}},
		{"h." + b64(`{"exp":"soon"}`) + ".s", time.Time{}},
		{"h." + b64(`{"exp":-1}`) + ".s", time.Time{}},
		{"h." + b64(`not json`) + ".s", time.Time{}},
		{"PUBLIC_TOKEN_" + "____", time.Time{}},
		{"", time.Time{}},
		{"a.b", time.Time{}},
		{"h.!!!.s", time.Time{}},
	}
	for _, tt := range tests {
		if got := TokenExpiry(tt.token); !got.Equal(tt.want) {
			t.Errorf("TokenExpiry(%q) = %v, want %v", tt.token, got, tt.want)
		}
	}
}

func FuzzTokenExpiry(f *testing.F) {
	f.Add("h." + b64(`{"exp":1700000000}`) + ".s")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		exp := TokenExpiry(token)
		if !exp.IsZero() && (exp.Unix() <= 0 || exp.Location() != time.UTC) {
			t.Fatalf("TokenExpiry(%q) = %v", token, exp)
		}
	})
}
