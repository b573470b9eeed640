package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// EnvToken is the variable Deep Lake programs read their token from.
const EnvToken = "ACTIVELOOP_TOKEN"

// LegacyTokenPath is where the official Python client kept its token, in
// plain text, under the user's home directory.
func LegacyTokenPath(home string) string {
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".activeloop", "token")
}

// TokenSource says where a resolved token came from.
type TokenSource int

// The sources of SPEC §7, in the order they are tried.
const (
	SourceFlag TokenSource = iota + 1
	SourceEnv
	SourceStore
	SourceLegacy
)

func (s TokenSource) String() string {
	switch s {
	case SourceFlag:
		return "the --token flag"
	case SourceEnv:
		return "the " + EnvToken + " environment variable"
	case SourceStore:
		return "the secure store"
	case SourceLegacy:
		return "the plaintext token file"
	}
	return "nowhere"
}

// ErrNoToken is returned when no source has a token.
var ErrNoToken = errors.New("no token")

// Sources are the places a token is resolved from, in SPEC §7's order:
// --token, ACTIVELOOP_TOKEN (non-empty), the secure store, the legacy file.
type Sources struct {
	Flag string // the --token flag
	Env  string // ACTIVELOOP_TOKEN
	// Store opens the secure store; it is called only when the flag and
	// the variable are empty. Nil skips the store.
	Store func(context.Context) (Store, error)
	// Server is the server whose entry the store is asked for, by the
	// longest path prefix, as get finds it.
	Server Server
	// LegacyPath is the Python client's token file, read only; empty skips
	// it.
	LegacyPath string
}

// Resolved is the token that won, and what is known about it.
type Resolved struct {
	Token  string
	Source TokenSource
	// Record is the stored record when Source is SourceStore; otherwise one
	// made from the token: the server asked for, the JWT's id claim as
	// username (possibly empty), the JWT's expiry.
	Record store.Record
	// Expires is the token's expiry; zero when unknown.
	Expires time.Time
	// Warning, when not empty, is a line for people: the token came from the
	// plaintext file.
	Warning string
}

// Resolve finds the token for s.Server: the first source that has one wins.
// A store that cannot be opened or read is an error, unless the legacy file
// has a token, which is then used with a warning that says why.
func Resolve(ctx context.Context, s Sources) (Resolved, error) {
	if s.Flag != "" {
		return fromToken(s.Flag, SourceFlag, s.Server), nil
	}
	if s.Env != "" {
		return fromToken(s.Env, SourceEnv, s.Server), nil
	}
	var storeErr error
	if s.Store != nil {
		st, err := s.Store(ctx)
		if err == nil {
			var r store.Record
			r, err = st.Lookup(ctx, s.Server.Lookups())
			if err == nil {
				return Resolved{Token: string(r.Secret), Source: SourceStore, Record: r, Expires: RecordExpires(r)}, nil
			}
		}
		if !errors.Is(err, store.ErrNotFound) {
			storeErr = err
		}
	}
	tok, err := ReadLegacyToken(s.LegacyPath)
	switch {
	case err != nil && storeErr != nil:
		return Resolved{}, errors.Join(storeErr, err)
	case err != nil:
		return Resolved{}, err
	case tok == "" && storeErr != nil:
		return Resolved{}, storeErr
	case tok == "":
		return Resolved{}, ErrNoToken
	}
	r := fromToken(tok, SourceLegacy, s.Server)
	r.Record.ServerURL = s.Server.Key()
	r.Warning = fmt.Sprintf("warning: using the plaintext token in %s, which other programs can read; move it into the secure store with `activeloop-credential-helper import --remove`", s.LegacyPath)
	if storeErr != nil {
		r.Warning = fmt.Sprintf("warning: the secure store failed (%v)\n%s", storeErr, r.Warning)
	}
	return r, nil
}

func fromToken(tok string, src TokenSource, srv Server) Resolved {
	id, exp := tokenClaims(tok)
	return Resolved{
		Token:  tok,
		Source: src,
		Record: store.Record{
			ServerURL: srv.Key(),
			Username:  id,
			Secret:    []byte(tok),
			Source:    map[TokenSource]string{SourceFlag: "flag", SourceEnv: "env", SourceLegacy: "legacy"}[src],
			Expires:   exp,
		},
		Expires: exp,
	}
}

// ReadLegacyToken reads the Python client's token file: the raw token, no
// newline. A missing or empty file is no token (""), not an error; the file
// is never written.
func ReadLegacyToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the plaintext token file: %w", err)
	}
	defer f.Close()
	b, err := readInput(f)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// DefaultTokens is a Store that also knows where else a token for the
// default server may come from. Every Store method is the wrapped store's;
// only LookupForGet, what a protocol get asks, resolves the default server's
// token in SPEC §7's order: ACTIVELOOP_TOKEN, the store, the legacy file.
type DefaultTokens struct {
	Store
	// Server is the default server: a get for it or any path below it
	// resolves.
	Server Server
	// Env is the value of ACTIVELOOP_TOKEN.
	Env string
	// LegacyPath is the Python client's token file; empty skips it.
	LegacyPath string
	// Stderr receives the legacy file's warning; nil discards it.
	Stderr io.Writer
}

// LookupForGet returns the record a protocol get answers with for srv:
// through DefaultTokens' resolution when s is one, else s.Lookup.
func LookupForGet(ctx context.Context, s Store, srv Server) (store.Record, error) {
	if d, ok := s.(*DefaultTokens); ok {
		return d.lookupForGet(ctx, srv)
	}
	return s.Lookup(ctx, srv.Lookups())
}

func (d *DefaultTokens) lookupForGet(ctx context.Context, srv Server) (store.Record, error) {
	keys := srv.Lookups()
	if d.Server.Origin == "" || !slices.Contains(keys, d.Server.Key()) {
		return d.Store.Lookup(ctx, keys)
	}
	res, err := Resolve(ctx, Sources{
		Env:        d.Env,
		Store:      func(context.Context) (Store, error) { return d.Store, nil },
		Server:     srv,
		LegacyPath: d.LegacyPath,
	})
	if errors.Is(err, ErrNoToken) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, err
	}
	if res.Warning != "" && d.Stderr != nil {
		fmt.Fprintln(d.Stderr, res.Warning)
	}
	r := res.Record
	if r.Username == "" {
		r.Username = "activeloop" // docker needs a username; the token names none
	}
	return r, nil
}
