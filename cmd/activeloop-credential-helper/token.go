package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/activeloopai/activeloop-credential-helper/helper"
)

func init() {
	commandGroups = append(commandGroups, tokenCommands)
}

func tokenCommands(e *appEnv) []*cli.Command {
	return []*cli.Command{tokenCommand(e), statusCommand(e), execCommand(e)}
}

// tokenFlag is the --token every resolving command takes: the first source
// of SPEC §7.
func tokenFlag() cli.Flag {
	return &cli.StringFlag{Name: "token", Usage: "use this token (beats " + helper.EnvToken + " and the secure store)"}
}

// resolve finds the server's token in SPEC §7's order. The store is opened
// only when neither --token nor ACTIVELOOP_TOKEN gives one.
func (u *userCmd) resolve(ctx context.Context, flagToken string) (helper.Resolved, helper.Server, error) {
	_, srv, err := u.serverOf()
	if err != nil {
		return helper.Resolved{}, srv, err
	}
	env, _ := u.e.getenv(helper.EnvToken)
	res, err := helper.Resolve(ctx, helper.Sources{
		Flag: flagToken,
		Env:  env,
		Store: func(ctx context.Context) (helper.Store, error) {
			st, err := u.openStore(ctx)
			if err != nil {
				return nil, err
			}
			return st, nil
		},
		Server:     srv,
		LegacyPath: legacyTokenPath(u.e.getenv),
	})
	if errors.Is(err, helper.ErrNoToken) {
		err = notLoggedIn{srv.Key()}
	}
	return res, srv, err
}

// notLoggedIn is a server with no token anywhere.
type notLoggedIn struct{ server string }

func (e notLoggedIn) Error() string {
	return fmt.Sprintf("not logged in to %s: run `%s login -u USER`, or `%s login -t TOKEN` with an API token", e.server, mainName, mainName)
}

func (notLoggedIn) Unwrap() error { return helper.ErrNoToken }

// usable resolves the token for handing out: warnings on stderr, and an
// error if it has expired.
func (u *userCmd) usable(ctx context.Context, flagToken string) (string, error) {
	res, _, err := u.resolve(ctx, flagToken)
	if err != nil {
		return "", err
	}
	if res.Warning != "" {
		u.notef("%s", res.Warning)
	}
	cfg, err := u.config()
	if err != nil {
		return "", err
	}
	now := clock()
	switch e := helper.CheckExpiry(res.Expires, now, cfg.WarnBefore); e.State {
	case helper.Expired:
		err := &helper.ExpiredError{What: "the token from " + res.Source.String(), At: e.At, Now: now}
		return "", fmt.Errorf("%w: %s", err, renewHint(res.Source))
	case helper.ExpiresSoon:
		u.notef("warning: the token from %s expires in %s (at %s): %s", res.Source, helper.FormatLeft(e.Left), helper.FormatTime(e.At), renewHint(res.Source))
	}
	return res.Token, nil
}

// renewHint says how to replace a token from src.
func renewHint(src helper.TokenSource) string {
	switch src {
	case helper.SourceFlag:
		return "give a newer one with --token"
	case helper.SourceEnv:
		return "set " + helper.EnvToken + " to a newer one, or unset it to use the stored login"
	case helper.SourceLegacy:
		return "run `" + mainName + " login` for a new one, and delete the plaintext file"
	}
	return "run `" + mainName + " login` for a new one"
}

func tokenCommand(e *appEnv) *cli.Command {
	u := newUserCmd(e)
	return &cli.Command{
		Name:      "token",
		Category:  accountCategory,
		Usage:     "print the server's token, and nothing else, on stdout: for $(...)",
		UsageText: mainName + " token",
		Description: "The token is the --token flag, else " + helper.EnvToken + ", else the secure store's login for the\n" +
			"server, else the plaintext ~/.activeloop/token. An expired token is never printed.",
		Flags: []cli.Flag{tokenFlag(), u.serverFlag()},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return u.usage("token takes no arguments; see token --help")
			}
			tok, err := u.usable(context.Background(), c.String("token"))
			if err != nil {
				return u.fail(err)
			}
			if _, err := fmt.Fprintln(u.e.stdout, tok); err != nil {
				return u.fail(err)
			}
			return nil
		},
	}
}

func statusCommand(e *appEnv) *cli.Command {
	u := newUserCmd(e)
	return &cli.Command{
		Name:        "status",
		Category:    accountCategory,
		Usage:       "show who is logged in, where the token comes from and when it expires; never the token",
		UsageText:   mainName + " status",
		Description: "Exits 1 when there is no usable token: not logged in, or expired.",
		Flags:       []cli.Flag{tokenFlag(), u.serverFlag()},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return u.usage("status takes no arguments; see status --help")
			}
			return u.status(c.String("token"))
		},
	}
}

func (u *userCmd) status(flagToken string) error {
	ctx := context.Background()
	res, srv, resErr := u.resolve(ctx, flagToken)
	cfg, err := u.config()
	if err != nil {
		return u.fail(err)
	}
	if srv.Origin == "" {
		return u.fail(resErr)
	}
	// The backend is shown whatever the token's source: it is where a login
	// would go.
	backend := "unavailable"
	if st, err := u.openStore(ctx); err != nil {
		backend += ": " + err.Error()
	} else {
		backend = st.Backend() + " (" + u.sess.reason + ")"
	}
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-8s %s\n", k+":", v) }
	line("server", srv.Key())
	if resErr != nil {
		if errors.Is(resErr, helper.ErrNoToken) {
			line("user", "not logged in")
		} else {
			line("user", "unknown")
		}
		line("backend", backend)
		fmt.Fprint(u.e.stdout, b.String())
		return u.fail(resErr)
	}
	user := res.Record.Username
	if user == "" {
		user = "unknown (the token does not name one)"
	}
	line("user", user)
	line("backend", backend)
	line("source", describeSource(res))
	now := clock()
	e := helper.CheckExpiry(res.Expires, now, cfg.WarnBefore)
	var expErr error
	switch e.State {
	case helper.ExpiryUnknown:
		line("expires", "unknown (the token has no expiry claim)")
	case helper.Valid:
		line("expires", fmt.Sprintf("%s (in %s)", helper.FormatTime(e.At), helper.FormatLeft(e.Left)))
	case helper.ExpiresSoon:
		line("expires", fmt.Sprintf("%s (in %s: soon)", helper.FormatTime(e.At), helper.FormatLeft(e.Left)))
	case helper.Expired:
		line("expires", fmt.Sprintf("%s (expired %s ago)", helper.FormatTime(e.At), helper.FormatLeft(e.Left)))
		expErr = fmt.Errorf("%w: %s", &helper.ExpiredError{What: "the token from " + res.Source.String(), At: e.At, Now: now}, renewHint(res.Source))
	}
	fmt.Fprint(u.e.stdout, b.String())
	if res.Warning != "" {
		u.notef("%s", res.Warning)
	}
	if e.State == helper.ExpiresSoon {
		u.notef("warning: the token expires in %s: %s", helper.FormatLeft(e.Left), renewHint(res.Source))
	}
	if expErr != nil {
		return u.fail(expErr)
	}
	return nil
}

// describeSource says where the token came from, for status.
func describeSource(res helper.Resolved) string {
	switch res.Source {
	case helper.SourceFlag:
		return "--token flag"
	case helper.SourceEnv:
		return helper.EnvToken + " environment variable"
	case helper.SourceLegacy:
		return "plaintext file (run `" + mainName + " import --remove`)"
	}
	r := res.Record
	how := map[string]string{
		"password": "password login",
		"register": "registration",
		"token":    "API token login",
		"import":   "imported from ~/.activeloop/token",
		"docker":   "stored by docker",
		"git":      "stored by git",
	}[r.Source]
	if how == "" {
		how = "stored"
	}
	if !r.Obtained.IsZero() {
		how += ", " + helper.FormatTime(r.Obtained)
	}
	return "secure store (" + how + ")"
}

func execCommand(e *appEnv) *cli.Command {
	u := newUserCmd(e)
	return &cli.Command{
		Name:      "exec",
		Category:  accountCategory,
		Usage:     "run a command with " + helper.EnvToken + " set to the server's token",
		UsageText: mainName + " exec [--token TOKEN] [--server URL] -- COMMAND [ARGS...]",
		Description: "The token goes in the command's environment, never on its command line. The command\n" +
			"gets the terminal, the signals and the exit status as if it had been run directly.",
		Flags: []cli.Flag{tokenFlag(), u.serverFlag()},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return u.usage("exec needs a command: %s exec -- COMMAND [ARGS...]", mainName)
			}
			tok, err := u.usable(context.Background(), c.String("token"))
			if err != nil {
				return u.fail(err)
			}
			code, err := u.runWithToken(args, tok)
			if err != nil {
				return u.fail(err)
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}

// execInPlace replaces the helper with the command where the OS can: the
// command is then the process its caller started, and gets every signal
// (from a terminal's Ctrl-C or from kill) exactly once, and its exit status
// is the caller's to read. Elsewhere the command runs as a child, with
// interrupts forwarded and its exit status passed on.
var execInPlace = runtime.GOOS != "windows"

// forwarded are the signals passed on to a child command.
var forwarded = []os.Signal{os.Interrupt, syscall.SIGTERM}

// runWithToken runs args with ACTIVELOOP_TOKEN set to tok in its environment
// and returns its exit status.
func (u *userCmd) runWithToken(args []string, tok string) (int, error) {
	path, err := exec.LookPath(args[0])
	if err != nil {
		return 0, fmt.Errorf("cannot run %s: %w", args[0], errors.Unwrap(err))
	}
	env := withEnv(os.Environ(), helper.EnvToken, tok)
	if execInPlace {
		err := syscall.Exec(path, args, env)
		return 0, fmt.Errorf("cannot run %s: %w", args[0], err)
	}
	cmd := exec.Command(path, args[1:]...)
	cmd.Args[0] = args[0] // as given, as a shell and syscall.Exec pass it
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = u.e.stdin, u.e.stdout, u.e.stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("cannot run %s: %w", args[0], err)
	}
	return waitForwarding(cmd, sigs), nil
}

// waitForwarding waits for a started command, passing it every signal that
// arrives on sigs, and returns its exit status: the status it exited with,
// or 128 plus the signal that ended it, as shells report.
func waitForwarding(cmd *exec.Cmd, sigs <-chan os.Signal) int {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	cmd.Wait()
	close(done)
	return exitStatus(cmd.ProcessState)
}

func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	return 1
}

// withEnv returns env with name set to value, replacing any earlier value.
func withEnv(env []string, name, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name || (runtime.GOOS == "windows" && strings.EqualFold(k, name)) {
			continue
		}
		out = append(out, kv)
	}
	return append(out, name+"="+value)
}
