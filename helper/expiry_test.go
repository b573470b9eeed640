package helper

import (
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestExpiryTokenExpires(t *testing.T) {
	withExp := "h." + b64(`{"id":"alice","exp":1893542400}`) + ".s" // 2030-01-02
	noExp := "h." + b64(`{"id":"alice"}`) + ".s"
	tests := []struct {
		name, token, source string
		want                time.Time
	}{
		{"exp wins over a password login", withExp, "password", time.Unix(1893542400, 0).UTC()},
		{"exp of an API token", withExp, "token", time.Unix(1893542400, 0).UTC()},
		{"password login without exp: 1000 h", noExp, "password", t0.Add(1000 * time.Hour)},
		{"registration without exp: 1000 h", noExp, "register", t0.Add(1000 * time.Hour)},
		{"API token without exp: unknown", noExp, "token", time.Time{}},
		{"imported token without exp: unknown", noExp, "import", time.Time{}},
		{"docker secret without exp: unknown", "opaque", "docker", time.Time{}},
	}
	for _, tt := range tests {
		if got := TokenExpires(tt.token, tt.source, t0); !got.Equal(tt.want) {
			t.Errorf("%s: TokenExpires = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := TokenExpires(noExp, "password", time.Time{}); !got.IsZero() {
		t.Errorf("a password login obtained at an unknown time: %v, want unknown", got)
	}
}

func TestExpiryRecordExpires(t *testing.T) {
	saved := t0.Add(5 * time.Hour)
	r := store.Record{Secret: []byte("opaque"), Source: "password", Obtained: t0, Expires: saved}
	if got := RecordExpires(r); !got.Equal(saved) {
		t.Errorf("the saved expiry: %v, want %v", got, saved)
	}
	r.Expires = time.Time{}
	if got := RecordExpires(r); !got.Equal(t0.Add(PasswordTokenLifetime)) {
		t.Errorf("no saved expiry, password login: %v", got)
	}
}

func TestExpiryCheck(t *testing.T) {
	const window = 72 * time.Hour
	obtained := t0
	at := obtained.Add(PasswordTokenLifetime)
	tests := []struct {
		name string
		now  time.Time
		at   time.Time
		want ExpiryState
	}{
		{"no expiry", t0, time.Time{}, ExpiryUnknown},
		{"long before", obtained.Add(time.Hour), at, Valid},
		{"just before the window", at.Add(-window - time.Second), at, Valid},
		{"window opens", at.Add(-window), at, ExpiresSoon},
		{"password login at 999 h", obtained.Add(999 * time.Hour), at, ExpiresSoon},
		{"a second before", at.Add(-time.Second), at, ExpiresSoon},
		{"at the instant", at, at, Expired},
		{"password login at 1001 h", obtained.Add(1001 * time.Hour), at, Expired},
	}
	for _, tt := range tests {
		e := CheckExpiry(tt.at, tt.now, window)
		if e.State != tt.want {
			t.Errorf("%s: state %d, want %d", tt.name, e.State, tt.want)
		}
		if !tt.at.IsZero() && e.Left != tt.at.Sub(tt.now) {
			t.Errorf("%s: left %v, want %v", tt.name, e.Left, tt.at.Sub(tt.now))
		}
		if got := IsExpired(tt.at, tt.now); got != (tt.want == Expired) {
			t.Errorf("%s: IsExpired = %v", tt.name, got)
		}
	}
	// No window: valid up to the instant.
	if e := CheckExpiry(at, at.Add(-time.Second), 0); e.State != Valid {
		t.Errorf("window 0, a second before: %d, want Valid", e.State)
	}
}

func TestExpiryFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                              "0s",
		9 * time.Second:                "9s",
		4*time.Minute + 10*time.Second: "4m 10s",
		23*time.Hour + 5*time.Minute:   "23h 5m",
		41*24*time.Hour + 16*time.Hour + 59*time.Minute: "41d 16h",
		-2 * time.Hour: "2h 0m",
	} {
		if got := FormatLeft(d); got != want {
			t.Errorf("FormatLeft(%v) = %q, want %q", d, got, want)
		}
	}
	if got := FormatTime(time.Date(2030, 2, 11, 16, 0, 59, 0, time.FixedZone("X", 3600))); got != "2030-02-11 15:00 UTC" {
		t.Errorf("FormatTime = %q", got)
	}
	err := &ExpiredError{What: "the token from the secure store", At: t0, Now: t0.Add(90 * time.Minute)}
	if got, want := err.Error(), "the token from the secure store expired at 2030-01-01 00:00 UTC (1h 30m ago)"; got != want {
		t.Errorf("ExpiredError = %q, want %q", got, want)
	}
}
