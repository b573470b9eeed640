package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/helper"
	"github.com/activeloopai/activeloop-credential-helper/internal/config"
	"github.com/activeloopai/activeloop-credential-helper/store"
)

// flagSettings are the global flags; each beats its environment twin and the
// config file.
type flagSettings struct {
	Backend string
	Server  string
	Timeout time.Duration
	Debug   bool
}

// usageError marks a mistake in the command line: exit status 2, not 1.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// clock is the helper's clock: expiry is judged by it. Tests set it.
var clock = time.Now

// session is what one invocation resolved: its settings and its store.
type session struct {
	cfg    *config.Config
	store  *store.Store // nil until open
	reason string       // why this backend: the flag, a variable, the file, or auto's choice
	debug  io.Writer
	start  time.Time
}

func (s *session) debugf(format string, args ...any) {
	if s.debug != nil {
		fmt.Fprintf(s.debug, "debug: "+format+"\n", args...)
	}
}

// newSession loads the configuration and applies the flags, without opening
// a store: commands whose token comes from a flag or the environment need
// none.
func newSession(getenv env, flags flagSettings, stderr io.Writer) (*session, error) {
	start := time.Now()
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct{ key, value string }{
		{"backend", flags.Backend},
		{"server", flags.Server},
		{"timeout", durationFlag(flags.Timeout)},
	} {
		if err := cfg.Set(f.key, f.value, config.Source{Origin: config.FromFlag, Name: "--" + f.key}); err != nil {
			return nil, usageError{err}
		}
	}
	s := &session{cfg: cfg, start: start}
	if flags.Debug || truthy(getenv, "ACTIVELOOP_CREDENTIAL_DEBUG") {
		s.debug = stderr
	}
	s.debugf("config file %s (%s)", cfg.Path, map[bool]string{true: "read", false: "absent"}[cfg.Found])
	return s, nil
}

// open opens the chosen backend, once.
func (s *session) open(ctx context.Context) error {
	if s.store != nil {
		return nil
	}
	cfg := s.cfg
	opts := cfg.StoreOptions()
	octx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var (
		b   store.Backend
		err error
	)
	if cfg.Backend == "auto" {
		b, s.reason, err = store.Auto(octx, opts)
	} else {
		b, err = store.Open(octx, cfg.Backend, opts)
		s.reason = "chosen by " + cfg.Source("backend").String()
	}
	if err != nil {
		return err
	}
	s.store = store.New(b, cfg.Timeout)
	s.debugf("backend %s: %s; opened in %s; timeout %s", b.Name(), s.reason, time.Since(s.start).Round(time.Microsecond), cfg.Timeout)
	if h, ok := b.(interface{ HowOpened() string }); ok && h.HowOpened() != "" {
		s.debugf("backend %s: %s", b.Name(), h.HowOpened())
	}
	return nil
}

func durationFlag(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func truthy(getenv env, name string) bool {
	v, _ := getenv(name)
	return v == "1" || v == "true" || v == "yes"
}

// withHelper opens a session and runs fn with a protocol helper over it.
func withHelper(getenv env, flags flagSettings, stderr io.Writer, fn func(context.Context, *helper.Helper) error) error {
	ctx := context.Background()
	s, err := newSession(getenv, flags, stderr)
	if err != nil {
		return err
	}
	// A get for the default server resolves its token as SPEC §7 says:
	// ACTIVELOOP_TOKEN, then the store, then the legacy file. The store is
	// opened on its first use, so a token from the variable costs no store,
	// and works where none is usable.
	def, _ := helper.ParseServer(s.cfg.Server) // checked by config; an error leaves the store alone
	env, _ := getenv(helper.EnvToken)
	st := &helper.DefaultTokens{Store: lazyStore{s}, Server: def, Env: env, LegacyPath: legacyTokenPath(getenv), Stderr: stderr}
	start := time.Now()
	err = fn(ctx, &helper.Helper{Store: st, Stderr: stderr, Now: clock})
	s.debugf("request done in %s", time.Since(start).Round(time.Microsecond))
	return err
}

// lazyStore is the session's store, opened on the first call.
type lazyStore struct{ s *session }

func (l lazyStore) store(ctx context.Context) (*store.Store, error) {
	if err := l.s.open(ctx); err != nil {
		return nil, err
	}
	return l.s.store, nil
}

func (l lazyStore) Lookup(ctx context.Context, keys []string) (store.Record, error) {
	st, err := l.store(ctx)
	if err != nil {
		return store.Record{}, err
	}
	return st.Lookup(ctx, keys)
}

func (l lazyStore) Put(ctx context.Context, key string, r store.Record) error {
	st, err := l.store(ctx)
	if err != nil {
		return err
	}
	return st.Put(ctx, key, r)
}

func (l lazyStore) Delete(ctx context.Context, key string) error {
	st, err := l.store(ctx)
	if err != nil {
		return err
	}
	return st.Delete(ctx, key)
}

func (l lazyStore) List(ctx context.Context) ([]store.Record, error) {
	st, err := l.store(ctx)
	if err != nil {
		return nil, err
	}
	return st.List(ctx)
}
