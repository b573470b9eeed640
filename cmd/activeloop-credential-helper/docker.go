package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/activeloopai/activeloop-credential-helper/helper"
)

// runDockerName serves the docker protocol exactly as a docker-credential-*
// binary built on docker-credential-helpers' credentials.Serve does,
// without the command-line framework: this is the path a host tool pays on
// every request.
func runDockerName(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv env) int {
	usage := "Usage: " + dockerName + " <store|get|erase|list|version>"
	if len(args) != 2 {
		fmt.Fprintln(stdout, usage)
		return 1
	}
	switch args[1] {
	case "--version", "-v":
		fmt.Fprintln(stdout, protocolVersion(dockerName))
		return 0
	case "--help", "-h":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	return dockerVerb(dockerName, args[1], stdin, stdout, stderr, getenv, flagSettings{})
}

// dockerVerb runs one docker protocol verb and maps its error to the
// protocol's answer: the message on stdout, exit 1.
func dockerVerb(name, verb string, stdin io.Reader, stdout, stderr io.Writer, getenv env, flags flagSettings) int {
	var err error
	switch verb {
	case "version":
		_, err = fmt.Fprintln(stdout, protocolVersion(name))
	case "store", "get", "erase", "list":
		err = withHelper(getenv, flags, stderr, func(ctx context.Context, h *helper.Helper) error {
			return h.Docker(ctx, verb, stdin, stdout, protocolVersion(name))
		})
	default:
		err = fmt.Errorf("%s: unknown action: %s", name, verb)
	}
	var usage usageError
	switch {
	case errors.As(err, &usage):
		// A bad flag value is the person's mistake, not a protocol answer.
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	case err != nil:
		fmt.Fprintln(stdout, err)
		return 1
	}
	return 0
}
