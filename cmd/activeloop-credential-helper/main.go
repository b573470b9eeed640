// Command activeloop-credential-helper keeps Deep Lake (Activeloop) API tokens
// in the operating system's secure store and hands them to programs that ask,
// over the docker-credential-helpers protocol and git's credential helper
// protocol.
//
// Run as docker-credential-activeloop it speaks only the docker protocol:
// one argument, the verb (store, get, erase, list, version); answers on
// stdout; errors as one line on stdout and exit status 1. Run as
// git-credential-activeloop it speaks only git's protocol (gitcredentials(7)):
// the operation get, store or erase; answers on stdout; errors on stderr with
// exit status 1; unknown operations succeed silently. Run under its own name
// it also has commands for people and global flags.
//
// Exit status: 0 success; 1 failure or not found; 2 usage error.
package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/activeloopai/activeloop-credential-helper/internal/busguard"
)

// Names the binary answers to; packages install the protocol names as links.
const (
	mainName   = "activeloop-credential-helper"
	dockerName = "docker-credential-activeloop"
	gitName    = "git-credential-activeloop"
)

func main() {
	busguard.Restore()
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}

// env looks up an environment variable; tests pass their own.
type env func(string) (string, bool)

// run is the whole program with its inputs made explicit.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv env) int {
	name := strings.TrimSuffix(filepath.Base(args[0]), ".exe")
	switch name {
	case dockerName:
		return runDockerName(args, stdin, stdout, stderr, getenv)
	case gitName:
		return runGitName(args, stdin, stdout, stderr, getenv)
	}
	return runMain(args, stdin, stdout, stderr, getenv)
}
