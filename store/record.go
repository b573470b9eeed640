package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// recordVersion is the version of the JSON record written today. Readers accept
// it and every older version; a newer one is an error that says to upgrade.
const recordVersion = 1

// Record is what the helper keeps for one server. It is stored as one JSON
// document in the backend's secret field, so every backend keeps the same data
// whatever labels or attributes it supports.
type Record struct {
	// ServerURL is the server exactly as the caller gave it when storing.
	ServerURL string
	Username  string
	// Secret is kept byte for byte.
	Secret []byte
	// Obtained is when the secret was stored or issued.
	Obtained time.Time
	// Source says how the secret arrived: "docker", "git", "password",
	// "token", "import".
	Source string
	// Expires is when the secret stops working; zero when unknown.
	Expires time.Time
}

type recordJSON struct {
	V         int       `json:"v"`
	ServerURL string    `json:"server_url"`
	Username  string    `json:"username"`
	Secret    []byte    `json:"secret"` // base64: secrets need not be UTF-8
	Obtained  time.Time `json:"obtained,omitzero"`
	Source    string    `json:"source,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
}

// ErrCorrupt reports an item that is ours but cannot be decoded.
var ErrCorrupt = errors.New("stored item is corrupt")

// MarshalRecord encodes r as the versioned JSON document kept in a backend.
func MarshalRecord(r Record) ([]byte, error) {
	return json.Marshal(recordJSON{
		V:         recordVersion,
		ServerURL: r.ServerURL,
		Username:  r.Username,
		Secret:    r.Secret,
		Obtained:  r.Obtained.UTC(),
		Source:    r.Source,
		Expires:   r.Expires.UTC(),
	})
}

// UnmarshalRecord decodes what MarshalRecord wrote. The error never quotes the
// input: it holds a secret.
func UnmarshalRecord(b []byte) (Record, error) {
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Record{}, fmt.Errorf("%w: not a JSON record", ErrCorrupt)
	}
	switch {
	case j.V < 1:
		return Record{}, fmt.Errorf("%w: no record version", ErrCorrupt)
	case j.V > recordVersion:
		return Record{}, fmt.Errorf("stored item has record version %d, newer than this helper understands (%d): upgrade activeloop-credential-helper", j.V, recordVersion)
	}
	return Record{
		ServerURL: j.ServerURL,
		Username:  j.Username,
		Secret:    j.Secret,
		Obtained:  j.Obtained,
		Source:    j.Source,
		Expires:   j.Expires,
	}, nil
}
