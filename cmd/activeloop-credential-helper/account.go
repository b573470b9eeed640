package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/activeloopai/activeloop-credential-helper/helper"
	"github.com/activeloopai/activeloop-credential-helper/internal/activeloop"
	"github.com/activeloopai/activeloop-credential-helper/internal/config"
	"github.com/activeloopai/activeloop-credential-helper/store"
)

// The commands for people (SPEC §6): login, register and logout here; token,
// status and exec in token.go; import in import.go. They answer on stdout
// only with what was asked (the token of `token`, the lines of `status`);
// everything else goes to stderr, and errors end them with status 1, usage
// errors with 2.

func init() {
	commandGroups = append(commandGroups, accountCommands)
}

const accountCategory = "Deep Lake accounts"

// promptAttempts is how often login asks again after a wrong password typed
// at the prompt, as the Python client did.
const promptAttempts = 3

func accountCommands(e *appEnv) []*cli.Command {
	return []*cli.Command{loginCommand(e), registerCommand(e), logoutCommand(e)}
}

// userCmd is one run of a command for people.
type userCmd struct {
	e      *appEnv
	server string // the command's own --server, beating the global one
	sess   *session
}

func newUserCmd(e *appEnv) *userCmd { return &userCmd{e: e} }

// serverFlag is the --server every command for people takes after its name.
func (u *userCmd) serverFlag() cli.Flag {
	return &cli.StringFlag{
		Name:        "server",
		Usage:       "Deep Lake server URL (env ACTIVELOOP_CREDENTIAL_SERVER; default https://app.activeloop.ai)",
		Destination: &u.server,
	}
}

// session loads the settings once; the store is opened by openStore.
func (u *userCmd) session() (*session, error) {
	if u.sess != nil {
		return u.sess, nil
	}
	flags := u.e.flags
	if u.server != "" {
		flags.Server = u.server
	}
	s, err := newSession(u.e.getenv, flags, u.e.stderr)
	if err != nil {
		return nil, err
	}
	u.sess = s
	return s, nil
}

func (u *userCmd) config() (*config.Config, error) {
	s, err := u.session()
	if err != nil {
		return nil, err
	}
	return s.cfg, nil
}

// openStore opens the secure store, once.
func (u *userCmd) openStore(ctx context.Context) (*store.Store, error) {
	s, err := u.session()
	if err != nil {
		return nil, err
	}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	return s.store, nil
}

// serverOf is the configured server, and its key in the store: its canonical
// origin (and path, if it has one).
func (u *userCmd) serverOf() (raw string, srv helper.Server, err error) {
	cfg, err := u.config()
	if err != nil {
		return "", helper.Server{}, err
	}
	srv, err = helper.ParseServer(cfg.Server)
	return cfg.Server, srv, err
}

// client is an API client of the configured server.
func (u *userCmd) client() (*activeloop.Client, error) {
	cfg, err := u.config()
	if err != nil {
		return nil, err
	}
	return activeloop.New(cfg.Server, activeloop.Options{
		UserAgent: mainName + "/" + getVersion(),
		Timeout:   cfg.APITimeout,
	})
}

// fail reports err to the person and ends the command with status 1, or 2
// for a mistake in the command line (a bad flag value).
func (u *userCmd) fail(err error) error {
	fmt.Fprintf(u.e.stderr, "%s: %v\n", mainName, err)
	if errors.As(err, new(usageError)) {
		return exitError{2}
	}
	return exitError{1}
}

// usage reports a misuse of the command and ends it with status 2.
func (u *userCmd) usage(format string, args ...any) error {
	fmt.Fprintf(u.e.stderr, "%s: %s\n", mainName, fmt.Sprintf(format, args...))
	return exitError{2}
}

func (u *userCmd) notef(format string, args ...any) {
	fmt.Fprintf(u.e.stderr, format+"\n", args...)
}

// apiError explains a failed API call, with what to do next.
func apiError(what string, err error) error {
	switch {
	case errors.Is(err, activeloop.ErrTimeout):
		return fmt.Errorf("%s: %w (raise the limit with ACTIVELOOP_CREDENTIAL_API_TIMEOUT)", what, err)
	case errors.Is(err, activeloop.ErrUnreachable):
		return fmt.Errorf("%s: %w (check the network connection and the server URL)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readStdinSecret reads a password or token given on stdin, up to 1 MiB,
// without the final line break. what names it in errors.
func (u *userCmd) readStdinSecret(what string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(u.e.stdin, helper.MaxInput+1))
	if err != nil {
		return "", fmt.Errorf("reading the %s from stdin: %w", what, err)
	}
	if len(b) > helper.MaxInput {
		return "", fmt.Errorf("the %s on stdin is over 1 MiB", what)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("no %s on stdin", what)
	}
	return s, nil
}

// checkPassword rejects passwords no login form would take.
func checkPassword(p string) error {
	if p == "" {
		return errors.New("empty password")
	}
	if strings.ContainsAny(p, "\r\n") {
		return errors.New("the password has more than one line: give it on one line")
	}
	return nil
}

// terminalName is the terminal a password is read from: never stdin or
// stdout, which may carry a protocol or be redirected.
func terminalName() string {
	if runtime.GOOS == "windows" {
		return "CONIN$"
	}
	return "/dev/tty"
}

// errNoTerminal is a prompt with no terminal to ask on.
var errNoTerminal = errors.New("no terminal to ask for the password on")

// promptPassword asks for a password on the terminal, without echo: the
// prompt goes to stderr, the answer is read from the terminal. An interrupt
// while it waits restores the terminal before the process ends.
func (u *userCmd) promptPassword(prompt string) (string, error) {
	tty, err := os.OpenFile(terminalName(), os.O_RDWR, 0)
	if err != nil {
		return "", errNoTerminal
	}
	defer tty.Close()
	fd := int(tty.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return "", errNoTerminal
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	go func() {
		select {
		case s := <-sigs:
			term.Restore(fd, state)
			fmt.Fprintln(u.e.stderr)
			code := 128 + 2 // as a shell reports SIGINT
			if s == syscall.SIGTERM {
				code = 128 + 15
			}
			os.Exit(code)
		case <-done:
		}
	}()
	fmt.Fprint(u.e.stderr, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(u.e.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password from the terminal: %w", err)
	}
	return string(b), nil
}

// password returns the password from -p, --password-stdin or the terminal,
// and whether it was typed at the prompt (and so may be asked again).
func (u *userCmd) password(c *cli.Context, prompt string) (string, bool, error) {
	switch {
	case c.IsSet("password"):
		u.notef("warning: a password given with -p is visible to other processes on this machine; use --password-stdin, or let %s prompt for it", c.Command.Name)
		p := c.String("password")
		return p, false, checkPassword(p)
	case c.Bool("password-stdin"):
		p, err := u.readStdinSecret("password")
		if err == nil {
			err = checkPassword(p)
		}
		return p, false, err
	}
	p, err := u.promptPassword(prompt)
	if errors.Is(err, errNoTerminal) {
		err = fmt.Errorf("%w: give it with --password-stdin", err)
	}
	if err == nil {
		err = checkPassword(p)
	}
	return p, true, err
}

func passwordFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "the password (visible to other processes: prefer --password-stdin or the prompt)"},
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from stdin"},
	}
}

// save stores a new login under the server's key, replacing any entry there.
func (u *userCmd) save(ctx context.Context, srv helper.Server, username, token, source string) error {
	st, err := u.openStore(ctx)
	if err != nil {
		return err
	}
	now := clock()
	exp := helper.TokenExpires(token, source, now)
	if helper.IsExpired(exp, now) {
		return fmt.Errorf("the token expired at %s: nothing stored (is this machine's clock right?)", helper.FormatTime(exp))
	}
	prev, err := st.Get(ctx, srv.Key())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		prev = store.Record{} // unreadable: replaced all the same
	}
	err = st.Put(ctx, srv.Key(), store.Record{
		ServerURL: srv.Key(),
		Username:  username,
		Secret:    []byte(token),
		Obtained:  now,
		Source:    source,
		Expires:   exp,
	})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("logged in to %s as %s", srv.Key(), username)
	if prev.Username != "" && prev.Username != username {
		msg += fmt.Sprintf(" (replacing the login of %s)", prev.Username)
	}
	cfg, _ := u.config()
	switch e := helper.CheckExpiry(exp, now, cfg.WarnBefore); e.State {
	case helper.ExpiryUnknown:
		msg += "; the token has no known expiry"
	default:
		msg += fmt.Sprintf("; the token expires %s (in %s)", helper.FormatTime(exp), helper.FormatLeft(e.Left))
	}
	u.notef("%s; kept in the %s store", msg, st.Backend())
	return nil
}

func loginCommand(e *appEnv) *cli.Command {
	u := newUserCmd(e)
	return &cli.Command{
		Name:     "login",
		Category: accountCategory,
		Usage:    "log in to Deep Lake and keep the token in the secure store",
		UsageText: mainName + " login -u USER [-p PASSWORD | --password-stdin]\n" +
			mainName + " login -t TOKEN | --token-stdin [--no-verify]",
		Description: "With -u, asks the server for a token with the password (prompted for on the terminal\n" +
			"when neither -p nor --password-stdin gives it). With -t or --token-stdin, stores an API\n" +
			"token after checking it with the server. Either replaces the server's previous login.",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "log in as this user with a password"},
		}, passwordFlags()...),
			&cli.StringFlag{Name: "token", Aliases: []string{"t"}, Usage: "store this API token (visible to other processes: prefer --token-stdin)"},
			&cli.BoolFlag{Name: "token-stdin", Usage: "read the API token from stdin"},
			&cli.BoolFlag{Name: "no-verify", Usage: "store the API token without asking the server whose it is"},
			u.serverFlag(),
		),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return u.usage("login takes no arguments; see login --help")
			}
			byToken := c.IsSet("token") || c.Bool("token-stdin")
			byPassword := c.IsSet("username") || c.IsSet("password") || c.Bool("password-stdin")
			switch {
			case byToken && byPassword:
				return u.usage("login takes -u USER with a password, or -t TOKEN / --token-stdin, not both")
			case c.IsSet("token") && c.Bool("token-stdin"):
				return u.usage("give the token with -t or --token-stdin, not both")
			case c.IsSet("password") && c.Bool("password-stdin"):
				return u.usage("give the password with -p or --password-stdin, not both")
			case byToken:
				return u.loginToken(c)
			case !c.IsSet("username"):
				return u.usage("login needs -u USER (or -t TOKEN for an API token); see login --help")
			case c.Bool("no-verify"):
				return u.usage("--no-verify applies to -t and --token-stdin only")
			}
			return u.loginPassword(c, c.String("username"))
		},
	}
}

// loginPassword logs in with a password and stores the token the server
// issues.
func (u *userCmd) loginPassword(c *cli.Context, username string) error {
	ctx := context.Background()
	if err := activeloop.CheckUsername(username); err != nil {
		return u.fail(err)
	}
	_, srv, err := u.serverOf()
	if err != nil {
		return u.fail(err)
	}
	client, err := u.client()
	if err != nil {
		return u.fail(err)
	}
	prompt := fmt.Sprintf("password for %s on %s: ", username, srv.Key())
	var tok string
	for attempt := 1; ; attempt++ {
		password, prompted, err := u.password(c, prompt)
		if err != nil {
			return u.fail(err)
		}
		tok, err = client.Token(ctx, username, password)
		if err == nil {
			break
		}
		if !errors.Is(err, activeloop.ErrWrongPassword) {
			return u.fail(apiError("login failed", err))
		}
		if !prompted {
			return u.fail(fmt.Errorf("login failed: wrong username or password for %s on %s", username, srv.Key()))
		}
		if attempt == promptAttempts {
			return u.fail(fmt.Errorf("login failed: %d unsuccessful attempts; check the username, or reset the password in the Deep Lake app", attempt))
		}
		u.notef("wrong username or password; try again")
	}
	if err := u.save(ctx, srv, username, tok, "password"); err != nil {
		return u.fail(err)
	}
	return nil
}

// loginToken checks an API token and stores it.
func (u *userCmd) loginToken(c *cli.Context) error {
	ctx := context.Background()
	tok := c.String("token")
	if c.Bool("token-stdin") {
		var err error
		if tok, err = u.readStdinSecret("token"); err != nil {
			return u.fail(err)
		}
	}
	tok = strings.TrimSpace(tok)
	if err := activeloop.CheckToken(tok); err != nil {
		return u.fail(fmt.Errorf("invalid token: %w", err))
	}
	if helper.TokenID(tok) == "public" {
		return u.fail(activeloop.ErrPublicToken)
	}
	if exp := helper.TokenExpiry(tok); helper.IsExpired(exp, clock()) {
		return u.fail(fmt.Errorf("the token expired at %s: create a new one in the Deep Lake app", helper.FormatTime(exp)))
	}
	_, srv, err := u.serverOf()
	if err != nil {
		return u.fail(err)
	}
	username := helper.TokenID(tok)
	if !c.Bool("no-verify") {
		client, err := u.client()
		if err != nil {
			return u.fail(err)
		}
		p, err := client.Profile(ctx, tok)
		if errors.Is(err, activeloop.ErrInvalidToken) {
			return u.fail(fmt.Errorf("invalid token: %w; nothing stored", err))
		}
		if err != nil {
			return u.fail(apiError("checking the token failed", err))
		}
		username = p.Username
	}
	if username == "" {
		username = "unknown"
	}
	if err := u.save(ctx, srv, username, tok, "token"); err != nil {
		return u.fail(err)
	}
	return nil
}

func registerCommand(e *appEnv) *cli.Command {
	u := newUserCmd(e)
	return &cli.Command{
		Name:      "register",
		Category:  accountCategory,
		Usage:     "create a Deep Lake account, then log in to it",
		UsageText: mainName + " register -e EMAIL -u USER [-p PASSWORD | --password-stdin]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "email", Aliases: []string{"e"}, Usage: "the account's email address"},
			&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "the account's username"},
		}, append(passwordFlags(), u.serverFlag())...),
		Action: func(c *cli.Context) error {
			switch {
			case c.Args().Present():
				return u.usage("register takes no arguments; see register --help")
			case !c.IsSet("email") || !c.IsSet("username"):
				return u.usage("register needs -e EMAIL and -u USER; see register --help")
			case c.IsSet("password") && c.Bool("password-stdin"):
				return u.usage("give the password with -p or --password-stdin, not both")
			}
			return u.register(c, c.String("username"), c.String("email"))
		},
	}
}

func (u *userCmd) register(c *cli.Context, username, email string) error {
	ctx := context.Background()
	if err := activeloop.CheckUsername(username); err != nil {
		return u.fail(err)
	}
	if err := activeloop.CheckEmail(email); err != nil {
		return u.fail(err)
	}
	_, srv, err := u.serverOf()
	if err != nil {
		return u.fail(err)
	}
	client, err := u.client()
	if err != nil {
		return u.fail(err)
	}
	password, prompted, err := u.password(c, fmt.Sprintf("password for the new account %s on %s: ", username, srv.Key()))
	if err != nil {
		return u.fail(err)
	}
	if prompted {
		again, err := u.promptPassword("the same password again: ")
		if err != nil {
			return u.fail(err)
		}
		if again != password {
			return u.fail(errors.New("the passwords do not match: nothing registered"))
		}
	}
	if err := client.Register(ctx, username, email, password); err != nil {
		return u.fail(apiError("registration failed", err))
	}
	u.notef("registered %s on %s", username, srv.Key())
	tok, err := client.Token(ctx, username, password)
	if err != nil {
		return u.fail(apiError(fmt.Sprintf("registered, but logging in failed (try `%s login -u %s`)", mainName, username), err))
	}
	if err := u.save(ctx, srv, username, tok, "register"); err != nil {
		return u.fail(err)
	}
	return nil
}

func logoutCommand(e *appEnv) *cli.Command {
	u := newUserCmd(e)
	return &cli.Command{
		Name:      "logout",
		Category:  accountCategory,
		Usage:     "erase the server's login from the secure store (--all: every entry)",
		UsageText: mainName + " logout [--all]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "erase every entry of this helper, for every server"},
			u.serverFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return u.usage("logout takes no arguments; see logout --help")
			}
			if c.Bool("all") && u.server != "" {
				return u.usage("logout takes --all or --server, not both")
			}
			return u.logout(c.Bool("all"))
		},
	}
}

func (u *userCmd) logout(all bool) error {
	ctx := context.Background()
	_, srv, err := u.serverOf()
	if err != nil {
		return u.fail(err)
	}
	st, err := u.openStore(ctx)
	if err != nil {
		return u.fail(err)
	}
	if all {
		recs, listErr := st.List(ctx)
		if listErr != nil && len(recs) == 0 && errors.Is(listErr, store.ErrUnavailable) {
			return u.fail(listErr)
		}
		n := 0
		for _, r := range recs {
			s, err := helper.ParseServer(r.ServerURL)
			if err == nil {
				err = st.Delete(ctx, s.Key())
			}
			if err != nil {
				return u.fail(fmt.Errorf("erasing the entry for %s: %w (%d erased before it)", r.ServerURL, err, n))
			}
			n++
		}
		if listErr != nil {
			return u.fail(fmt.Errorf("erased %d entries, but some could not be read and are left: %w", n, listErr))
		}
		u.notef("erased %d entries from the %s store", n, st.Backend())
		// Nothing is left to read: drop every cached file-store key too, as
		// `lock --all` does.
		if _, err := store.ForgetFileKeys(); err != nil {
			u.notef("warning: %v", err)
		}
	} else {
		prev, err := st.Get(ctx, srv.Key())
		switch {
		case errors.Is(err, store.ErrNotFound):
			u.notef("not logged in to %s: nothing to erase", srv.Key())
		case err != nil && !errors.Is(err, store.ErrCorrupt):
			return u.fail(err)
		default:
			if err := st.Delete(ctx, srv.Key()); err != nil {
				return u.fail(err)
			}
			if prev.Username != "" {
				u.notef("logged out of %s (%s)", srv.Key(), prev.Username)
			} else {
				u.notef("logged out of %s", srv.Key())
			}
		}
	}
	if tok, _ := helper.ReadLegacyToken(legacyTokenPath(u.e.getenv)); tok != "" {
		u.notef("note: %s still holds a plaintext token, which `token` and `exec` fall back to; delete it, or move it into the store with `%s import --remove`", legacyTokenPath(u.e.getenv), mainName)
	}
	return nil
}
