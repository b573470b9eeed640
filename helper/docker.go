package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// The three messages docker matches by content (docker-credential-helpers
// credentials/error.go). Every other error is free text.
const (
	msgNotFound         = "credentials not found in native keychain"
	msgMissingServerURL = "no credentials server URL"
	msgMissingUsername  = "no credentials username"
)

var (
	// ErrNotFound is the docker protocol's not-found answer.
	ErrNotFound = errors.New(msgNotFound)
	// ErrMissingServerURL is returned when a request names no server.
	ErrMissingServerURL = errors.New(msgMissingServerURL)
	// ErrMissingUsername is returned when store is given no username.
	ErrMissingUsername = errors.New(msgMissingUsername)
)

// Credentials is the docker protocol's JSON object.
type Credentials struct {
	ServerURL string
	Username  string
	Secret    string
}

// Docker runs one docker-credential-helpers verb: store, get, erase, list or
// version. A returned error is the protocol's answer: the caller prints it on
// stdout followed by a newline and exits 1.
func (h *Helper) Docker(ctx context.Context, verb string, in io.Reader, out io.Writer, version string) error {
	switch verb {
	case "store":
		return h.dockerStore(ctx, in)
	case "get":
		return h.dockerGet(ctx, in, out)
	case "erase":
		return h.dockerErase(ctx, in)
	case "list":
		return h.dockerList(ctx, out)
	case "version":
		_, err := io.WriteString(out, version+"\n")
		return err
	}
	return fmt.Errorf("unknown action: %s", verb)
}

// ParseStoreInput reads the JSON object of a store request. Its errors never
// quote the input, which holds a secret.
func ParseStoreInput(in []byte) (Credentials, error) {
	var c Credentials
	if len(bytes.TrimSpace(in)) == 0 {
		return c, errors.New(`no credentials on stdin: expected {"ServerURL":…,"Username":…,"Secret":…}`)
	}
	if !utf8.Valid(in) {
		return c, errors.New("credentials on stdin are not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(in))
	if err := dec.Decode(&c); err != nil {
		return Credentials{}, fmt.Errorf(`malformed credentials on stdin at byte %d: expected a JSON object {"ServerURL":…,"Username":…,"Secret":…}`, dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		return Credentials{}, errors.New("unexpected data on stdin after the credentials' JSON object")
	}
	if c.ServerURL == "" {
		return Credentials{}, ErrMissingServerURL
	}
	if c.Username == "" {
		return Credentials{}, ErrMissingUsername
	}
	if i := strings.IndexFunc(c.Username, isControl); i >= 0 {
		return Credentials{}, fmt.Errorf("invalid username: control character at byte %d", i)
	}
	return c, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (h *Helper) dockerStore(ctx context.Context, in io.Reader) error {
	b, err := readInput(in)
	if err != nil {
		return err
	}
	c, err := ParseStoreInput(b)
	if err != nil {
		return err
	}
	srv, err := ParseServer(c.ServerURL)
	if err != nil {
		return err
	}
	now := h.now()
	return h.Store.Put(ctx, srv.Key(), store.Record{
		ServerURL: c.ServerURL,
		Username:  c.Username,
		Secret:    []byte(c.Secret),
		Obtained:  now,
		Source:    "docker",
		Expires:   TokenExpiry(c.Secret),
	})
}

// readServer reads a get or erase request: the server URL, to EOF, trimmed.
func readServer(in io.Reader) (string, Server, error) {
	b, err := readInput(in)
	if err != nil {
		return "", Server{}, err
	}
	raw := strings.TrimSpace(string(b))
	if raw == "" {
		return "", Server{}, ErrMissingServerURL
	}
	srv, err := ParseServer(raw)
	return raw, srv, err
}

func (h *Helper) dockerGet(ctx context.Context, in io.Reader, out io.Writer) error {
	raw, srv, err := readServer(in)
	if err != nil {
		return err
	}
	r, err := LookupForGet(ctx, h.Store, srv)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	// An expired token is never handed out (SPEC §8).
	if exp := RecordExpires(r); IsExpired(exp, h.now()) {
		fmt.Fprintf(h.stderr(), "the credentials for %s expired at %s; log in again\n", raw, FormatTime(exp))
		return ErrNotFound
	}
	// docker's encoder: the asked URL echoed, HTML escaping on, one newline.
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(Credentials{ServerURL: raw, Username: r.Username, Secret: string(r.Secret)}); err != nil {
		return err
	}
	_, err = out.Write(buf.Bytes())
	return err
}

func (h *Helper) dockerErase(ctx context.Context, in io.Reader) error {
	_, srv, err := readServer(in)
	if err != nil {
		return err
	}
	return h.Store.Delete(ctx, srv.Key())
}

func (h *Helper) dockerList(ctx context.Context, out io.Writer) error {
	recs, err := h.Store.List(ctx)
	if err != nil {
		if len(recs) == 0 && !isPartial(err) {
			return err
		}
		// One unreadable item must not hide the others from docker.
		fmt.Fprintf(h.stderr(), "warning: %v\n", err)
	}
	m := make(map[string]string, len(recs))
	for _, r := range recs {
		m[r.ServerURL] = r.Username
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(m); err != nil {
		return err
	}
	_, err = out.Write(buf.Bytes())
	return err
}

// isPartial reports a List error about individual items, not the store.
func isPartial(err error) bool { return !errors.Is(err, store.ErrUnavailable) }
