package helper

import (
	"fmt"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// PasswordTokenLifetime is how long a token from a password login lasts when
// its JWT has no exp claim: Activeloop documents 1000 hours (SPEC §8).
const PasswordTokenLifetime = 1000 * time.Hour

// TokenExpires returns when a token expires: its JWT exp claim if it has one;
// else, for a token from a password login (source "password" or "register"),
// PasswordTokenLifetime after it was obtained; else the zero time, unknown.
func TokenExpires(token, source string, obtained time.Time) time.Time {
	if exp := TokenExpiry(token); !exp.IsZero() {
		return exp
	}
	if (source == "password" || source == "register") && !obtained.IsZero() {
		return obtained.Add(PasswordTokenLifetime).UTC()
	}
	return time.Time{}
}

// RecordExpires is when a stored record's secret expires: the expiry saved
// with it, or failing that the one TokenExpires works out.
func RecordExpires(r store.Record) time.Time {
	if !r.Expires.IsZero() {
		return r.Expires
	}
	return TokenExpires(string(r.Secret), r.Source, r.Obtained)
}

// ExpiryState classifies a token's expiry at one instant.
type ExpiryState int

const (
	// ExpiryUnknown is a token without a known expiry: it is handed out.
	ExpiryUnknown ExpiryState = iota
	// Valid is a token that expires after the warning window.
	Valid
	// ExpiresSoon is a token that expires within the warning window: it is
	// handed out with a warning.
	ExpiresSoon
	// Expired is a token at or past its expiry: it is never handed out.
	Expired
)

// Expiry is a token's expiry as seen at one instant.
type Expiry struct {
	At    time.Time // zero when unknown
	State ExpiryState
	Left  time.Duration // At minus now; negative once expired
}

// CheckExpiry classifies the expiry at as seen at now, with a warning window
// of warn before it. A token is expired from the instant at on.
func CheckExpiry(at, now time.Time, warn time.Duration) Expiry {
	if at.IsZero() {
		return Expiry{State: ExpiryUnknown}
	}
	e := Expiry{At: at, Left: at.Sub(now)}
	switch {
	case !now.Before(at):
		e.State = Expired
	case e.Left <= warn:
		e.State = ExpiresSoon
	default:
		e.State = Valid
	}
	return e
}

// IsExpired reports whether a token with expiry at (zero: unknown) has
// expired at now.
func IsExpired(at, now time.Time) bool {
	return CheckExpiry(at, now, 0).State == Expired
}

// FormatTime spells an instant for people: UTC, to the minute.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

// FormatLeft spells a duration for people in its two largest units: "41d
// 16h", "23h 5m", "4m 10s", "9s". Negative durations are spelt as their
// absolute value.
func FormatLeft(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Truncate(time.Second)
	days := d / (24 * time.Hour)
	hours := d % (24 * time.Hour) / time.Hour
	mins := d % time.Hour / time.Minute
	secs := d % time.Minute / time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm %ds", mins, secs)
	default:
		return fmt.Sprintf("%ds", secs)
	}
}

// ExpiredError is a resolved token that has expired.
type ExpiredError struct {
	// What names the token, e.g. "the token from the secure store".
	What string
	At   time.Time
	Now  time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("%s expired at %s (%s ago)", e.What, FormatTime(e.At), FormatLeft(e.Now.Sub(e.At)))
}
