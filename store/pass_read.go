//go:build !windows

package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/99designs/keyring"
)

// passBackend reads items with gpg directly and leaves everything else to
// the library, which runs pass(1).
//
// `pass show` is a bash script that runs which, getopt, gpg and base64
// twice to print what gpg decrypts; a get is the request a host tool makes
// on every pull and fetch, so it skips the script and runs the one gpg
// command pass would. Writes, deletes and listing keep going through pass:
// it owns the recipients (.gpg-id), git commits and signing.
type passBackend struct {
	*keyringBackend
	items string // the prefix directory inside the store
}

func (b *passBackend) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkCall(ctx, key); err != nil {
		return nil, err
	}
	// Where pass and the library look: $PASSWORD_STORE_DIR/prefix/<key>.gpg.
	file := filepath.Join(b.items, key+".gpg")
	if !isRegularFile(file) {
		return nil, ErrNotFound
	}
	out, err := passDecrypt(ctx, file)
	if err != nil {
		if !isRegularFile(file) {
			return nil, ErrNotFound // removed while gpg started
		}
		return nil, b.fail("reading", key, err)
	}
	// The library's record: keyring.Item as JSON, Data in base64.
	var item keyring.Item
	if err := json.Unmarshal(out, &item); err != nil {
		// Never pass the decoder's message on: it may quote the item.
		return nil, fmt.Errorf("item %s in the %s store was not written by this helper", key, b.name)
	}
	return item.Data, nil
}

// passDecrypt returns what `pass show` prints for file: the output of
//
//	gpg -d $PASSWORD_STORE_GPG_OPTS --quiet --yes --batch FILE
//
// with gpg2 preferred to gpg, as pass chooses. gpg is killed at ctx's
// deadline (a hung gpg-agent, a pinentry nobody answers). Its stdin is
// empty and its stderr kept: it never holds the plaintext, only gpg's
// diagnostics, of which the error quotes the first lines.
func passDecrypt(ctx context.Context, file string) ([]byte, error) {
	gpg := "gpg"
	if onPath("gpg2") {
		gpg = "gpg2"
	}
	// pass splits the variable on white space, unquoted, and so does this.
	args := []string{"--decrypt"}
	args = append(args, strings.Fields(os.Getenv("PASSWORD_STORE_GPG_OPTS"))...)
	args = append(args, "--quiet", "--yes", "--batch", "--", file)
	cmd := exec.CommandContext(ctx, gpg, args...)
	// A gpg that forks a helper (the agent, on first use) must not keep the
	// pipes, and so the call, open past the deadline.
	cmd.WaitDelay = 100 * time.Millisecond
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("%s did not finish: %w", gpg, ctxErr)
	}
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("%s --decrypt: %w%s", gpg, err, diagnostics(stderr.Bytes()))
		}
		return nil, fmt.Errorf("running %s: %w", gpg, err)
	}
	return stdout.Bytes(), nil
}

// diagnostics returns the first few of gpg's messages, for an error.
func diagnostics(stderr []byte) string {
	const maxLines, maxLen = 3, 300
	var lines []string
	for _, l := range strings.Split(string(stderr), "\n") {
		if l = strings.TrimSpace(l); l != "" && len(lines) < maxLines {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "; ")
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	if s == "" {
		return ""
	}
	return ": " + s
}
