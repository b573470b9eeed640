package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/activeloopai/activeloop-credential-helper/helper"
	"github.com/activeloopai/activeloop-credential-helper/internal/activeloop"
	"github.com/activeloopai/activeloop-credential-helper/store"
)

func init() {
	commandGroups = append(commandGroups, importCommands)
}

func importCommands(e *appEnv) []*cli.Command { return []*cli.Command{importCommand(e)} }

// homeDir is the user's home directory as the environment gives it, ""
// when it gives none.
func homeDir(getenv env) string {
	name := "HOME"
	if runtime.GOOS == "windows" {
		name = "USERPROFILE"
	}
	h, _ := getenv(name)
	return h
}

// legacyTokenPath is the Python client's plaintext token file, ~/.activeloop/token.
func legacyTokenPath(getenv env) string { return helper.LegacyTokenPath(homeDir(getenv)) }

func importCommand(e *appEnv) *cli.Command {
	u := newUserCmd(e)
	return &cli.Command{
		Name:      "import",
		Category:  accountCategory,
		Usage:     "move the plaintext ~/.activeloop/token into the secure store",
		UsageText: mainName + " import [--remove] [--force]",
		Description: "Stores the Python client's token as the server's login. With --remove, deletes the\n" +
			"plaintext file once the stored copy reads back equal to it.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "remove", Usage: "delete the plaintext file after a verified copy"},
			&cli.BoolFlag{Name: "force", Usage: "replace a different login already stored for the server"},
			u.serverFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return u.usage("import takes no arguments; see import --help")
			}
			return u.importLegacy(c.Bool("remove"), c.Bool("force"))
		},
	}
}

func (u *userCmd) importLegacy(remove, force bool) error {
	ctx := context.Background()
	path := legacyTokenPath(u.e.getenv)
	if path == "" {
		return u.fail(errors.New("no home directory in the environment: nothing to import"))
	}
	_, srv, err := u.serverOf()
	if err != nil {
		return u.fail(err)
	}
	st, err := u.openStore(ctx)
	if err != nil {
		return u.fail(err)
	}
	res, err := importToken(ctx, st, srv, path, clock(), force, remove)
	if err != nil {
		return u.fail(err)
	}
	switch {
	case res.already:
		u.notef("the token in %s is already the login for %s (%s)", path, srv.Key(), res.username)
	default:
		u.notef("imported the token of %s from %s into the %s store for %s", res.username, path, st.Backend(), srv.Key())
	}
	if res.removed {
		u.notef("removed %s", path)
	} else {
		u.notef("%s is still there, readable by other programs: delete it, or run `%s import --remove`", path, mainName)
	}
	return nil
}

// importStore is what import needs of the secure store.
type importStore interface {
	Get(ctx context.Context, key string) (store.Record, error)
	Put(ctx context.Context, key string, r store.Record) error
}

type importResult struct {
	username string
	already  bool // the same token was already stored
	removed  bool
}

// importToken stores the token of the file at path as the login for srv,
// unless a different login is stored there and force is false. With remove,
// it deletes the file, but only after the stored copy reads back equal.
// Every failure leaves both the store and the file as they were, except a
// failed removal after a verified copy.
func importToken(ctx context.Context, st importStore, srv helper.Server, path string, now time.Time, force, remove bool) (importResult, error) {
	var res importResult
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("no plaintext token at %s: nothing to import", path)
	}
	tok, err := helper.ReadLegacyToken(path)
	if err != nil {
		return res, err
	}
	if tok == "" {
		return res, fmt.Errorf("%s is empty: nothing to import", path)
	}
	if err := activeloop.CheckToken(tok); err != nil {
		return res, fmt.Errorf("%s does not hold a usable token: %w", path, err)
	}
	res.username = helper.TokenID(tok)
	if res.username == "public" {
		return res, fmt.Errorf("%s holds the anonymous public token, not a login: nothing to import", path)
	}
	if res.username == "" {
		res.username = "unknown"
	}
	exp := helper.TokenExpires(tok, "import", now)
	if helper.IsExpired(exp, now) {
		return res, fmt.Errorf("the token in %s expired at %s: nothing imported; run `%s login` instead, and delete the file", path, helper.FormatTime(exp), mainName)
	}
	key := srv.Key()
	prev, err := st.Get(ctx, key)
	switch {
	case err == nil && bytes.Equal(prev.Secret, []byte(tok)):
		res.already = true
		res.username = prev.Username
	case err == nil && !force:
		return res, fmt.Errorf("a different login for %s is already stored (%s): nothing imported; use --force to replace it", key, prev.Username)
	case err != nil && !errors.Is(err, store.ErrNotFound) && !(force && errors.Is(err, store.ErrCorrupt)):
		return res, err
	}
	if !res.already {
		err := st.Put(ctx, key, store.Record{
			ServerURL: key,
			Username:  res.username,
			Secret:    []byte(tok),
			Obtained:  now,
			Source:    "import",
			Expires:   exp,
		})
		if err != nil {
			return res, err
		}
	}
	if !remove {
		return res, nil
	}
	back, err := st.Get(ctx, key)
	if err != nil {
		return res, fmt.Errorf("reading the stored copy back failed (%w): %s left in place", err, path)
	}
	if !bytes.Equal(back.Secret, []byte(tok)) {
		return res, fmt.Errorf("the stored copy does not read back equal to the file: %s left in place", path)
	}
	// The file may have changed since it was read: remove it only if it still
	// holds the token that was stored.
	if now, err := helper.ReadLegacyToken(path); err != nil || strings.TrimSpace(now) != tok {
		return res, fmt.Errorf("%s changed while it was imported: left in place", path)
	}
	if err := os.Remove(path); err != nil {
		return res, fmt.Errorf("the token is stored, but removing %s failed: %w", path, err)
	}
	res.removed = true
	return res, nil
}
