package helper

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// TokenExpiry returns the exp claim of a JWT, decoded without verifying the
// signature (the server verifies; we only avoid handing out a dead token), or
// the zero time when token is not a JWT or has no usable exp.
func TokenExpiry(token string) time.Time {
	_, exp := tokenClaims(token)
	return exp
}

// TokenID returns the id claim of a JWT, the username Deep Lake issued it
// to, decoded without verifying the signature; "" when there is none.
func TokenID(token string) string {
	id, _ := tokenClaims(token)
	return id
}

// tokenClaims returns what TokenID and TokenExpiry return, decoding the
// token's payload once. Each claim is read on its own, so that a malformed
// one does not hide the other.
func tokenClaims(token string) (id string, exp time.Time) {
	payload, ok := jwtPayload(token)
	if !ok {
		return "", time.Time{}
	}
	var idClaim struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(payload, &idClaim) == nil {
		if s, _ := idClaim.ID.(string); strings.IndexFunc(s, isControl) < 0 {
			id = s
		}
	}
	var expClaim struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &expClaim) == nil && expClaim.Exp != "" {
		if f, err := expClaim.Exp.Float64(); err == nil && f > 0 && f <= 1<<40 {
			exp = time.Unix(int64(f), 0).UTC()
		}
	}
	return id, exp
}

// jwtPayload returns the decoded payload of a JWT, without verifying the
// signature. It reports false for anything that is not a JWT.
func jwtPayload(token string) ([]byte, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 8192 {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	return payload, err == nil
}
