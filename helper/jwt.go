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
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if !jwtClaims(token, &claims) || claims.Exp == "" {
		return time.Time{}
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 || f > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0).UTC()
}

// TokenID returns the id claim of a JWT, the username Deep Lake issued it
// to, decoded without verifying the signature; "" when there is none.
func TokenID(token string) string {
	var claims struct {
		ID any `json:"id"`
	}
	if !jwtClaims(token, &claims) {
		return ""
	}
	id, _ := claims.ID.(string)
	if strings.IndexFunc(id, isControl) >= 0 {
		return ""
	}
	return id
}

// jwtClaims decodes the payload of a JWT into claims, without verifying the
// signature. It reports false for anything that is not a JWT.
func jwtClaims(token string, claims any) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 8192 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	return err == nil && json.Unmarshal(payload, claims) == nil
}
