package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// exitError carries an exit status through urfave/cli; errors are mapped to
// exit statuses here and nowhere else.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func runMain(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv env) int {
	app := newApp(stdin, stdout, stderr, getenv)
	err := app.Run(args)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		// urfave/cli's own errors: unknown flags and commands, bad values.
		fmt.Fprintf(stderr, "%s: %v\n", mainName, err)
		return 2
	}
}

// appEnv is what every command needs: the process's streams and environment,
// and the global flags once parsed.
type appEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         env
	flags          flagSettings
}

// commandGroups add the commands of other files (one file per group) to the
// app, after the protocol verbs.
var commandGroups []func(*appEnv) []*cli.Command

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv env) *cli.App {
	e := &appEnv{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	flags := &e.flags
	protocol := func(verb, usage string) *cli.Command {
		return &cli.Command{
			Name:     verb,
			Usage:    usage,
			Category: "docker-credential-helpers protocol",
			Action: func(c *cli.Context) error {
				if c.Args().Present() {
					return fmt.Errorf("%s takes no arguments (its input is on stdin)", verb)
				}
				if code := dockerVerb(mainName, verb, stdin, stdout, stderr, getenv, *flags); code != 0 {
					return exitError{code}
				}
				return nil
			},
		}
	}
	commands := []*cli.Command{
		protocol("store", `store credentials read as JSON from stdin: {"ServerURL":…,"Username":…,"Secret":…}`),
		protocol("get", "print the credentials for the server URL read from stdin, as JSON"),
		protocol("erase", "erase the credentials for the server URL read from stdin"),
		protocol("list", "print a JSON object of every stored server URL and its username"),
		protocol("version", "print the protocol version line"),
	}
	for _, group := range commandGroups {
		commands = append(commands, group(e)...)
	}
	return &cli.App{
		Name:    mainName,
		Usage:   "keep Deep Lake tokens in the operating system's secure store",
		Version: longVersion(),
		Description: "Serves tokens to docker (as " + dockerName + ") and to any program that execs it.\n" +
			"Settings come from flags, then `ACTIVELOOP_CREDENTIAL_*` environment variables, then the\n" +
			"config file (`$ACTIVELOOP_CREDENTIAL_HELPER_CONFIG`, or `activeloop/credential-helper.toml`\n" +
			"in the user config directory).",
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:        "backend",
				Usage:       "secure store: auto, " + strings.Join(store.Names, ", ") + " (env ACTIVELOOP_CREDENTIAL_BACKEND)",
				Destination: &flags.Backend,
			},
			&cli.StringFlag{
				Name:        "server",
				Usage:       "Deep Lake server URL (env ACTIVELOOP_CREDENTIAL_SERVER; default https://app.activeloop.ai)",
				Destination: &flags.Server,
			},
			&cli.DurationFlag{
				Name:        "timeout",
				Usage:       "deadline for each secure store call (env ACTIVELOOP_CREDENTIAL_TIMEOUT; default 5s)",
				Destination: &flags.Timeout,
			},
			&cli.BoolFlag{
				Name:        "debug",
				Usage:       "explain on stderr which config and backend are used, with timings; never prints secrets (env ACTIVELOOP_CREDENTIAL_DEBUG=1)",
				Destination: &flags.Debug,
			},
		},
		Commands:     commands,
		OnUsageError: func(c *cli.Context, err error, _ bool) error { return err },
		// Reached with no command, or one that does not exist.
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("unknown command %q; see --help", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
}
