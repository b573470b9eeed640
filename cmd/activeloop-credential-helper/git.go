package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/activeloopai/activeloop-credential-helper/helper"
)

// The git credential helper protocol (gitcredentials(7)): under the name
// git-credential-activeloop, which `credential.helper = activeloop` makes git
// run, and as the git command of the main binary.

const gitUsage = "usage: " + gitName + " [--backend NAME] [--timeout DURATION] [--debug] <get|store|erase>"

func init() {
	commandGroups = append(commandGroups, gitCommands)
}

func gitCommands(e *appEnv) []*cli.Command {
	return []*cli.Command{{
		Name:      "git",
		Usage:     "serve git's credential helper protocol: get, store or erase, with the description on stdin",
		ArgsUsage: "<get|store|erase>",
		Category:  "git credential helper protocol",
		Description: "git runs it as " + gitName + " once `setup git` has set credential.helper = activeloop\n" +
			"for the server. Unknown operations succeed with no output, as gitcredentials(7) asks.",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return errors.New("git takes one operation: get, store or erase")
			}
			if code := gitOperation(mainName, c.Args().First(), e.stdin, e.stdout, e.stderr, e.getenv, e.flags); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}}
}

// runGitName serves the git protocol under git's name for the helper. git
// runs `git-credential-activeloop [options from credential.helper] OP`, so
// the global options of the main binary that make sense here come first.
func runGitName(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv env) int {
	fs := flag.NewFlagSet(gitName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var flags flagSettings
	fs.StringVar(&flags.Backend, "backend", "", "")
	fs.DurationVar(&flags.Timeout, "timeout", 0, "")
	fs.BoolVar(&flags.Debug, "debug", false, "")
	showVersion := fs.Bool("version", false, "")
	switch err := fs.Parse(args[1:]); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(stdout, gitUsage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n%s\n", gitName, err, gitUsage)
		return 2
	case *showVersion:
		fmt.Fprintln(stdout, protocolVersion(gitName))
		return 0
	case fs.NArg() != 1:
		fmt.Fprintln(stderr, gitUsage)
		return 2
	}
	return gitOperation(gitName, fs.Arg(0), stdin, stdout, stderr, getenv, flags)
}

// gitOperation runs one git protocol operation. An operation this helper
// does not know succeeds at once, without reading stdin or opening a store.
// An error goes to stderr, where git shows it, and exits 1; git carries on
// as if the helper had had nothing to say.
func gitOperation(name, op string, stdin io.Reader, stdout, stderr io.Writer, getenv env, flags flagSettings) int {
	if !helper.GitOperation(op) {
		return 0
	}
	err := withHelper(getenv, flags, stderr, func(ctx context.Context, h *helper.Helper) error {
		return h.Git(ctx, op, stdin, stdout)
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
