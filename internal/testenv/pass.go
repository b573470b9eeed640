// Package testenv sets up real secure stores, private to one test, for the
// integration tests of the store backends. A missing program fails the test
// with the command that installs it: a skipped test proves nothing.
package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// Pass makes a throwaway GnuPG home holding one key without a passphrase and
// a password store initialised for it, and points GNUPGHOME and
// PASSWORD_STORE_DIR at them for the test and the programs it runs. Cleanup
// stops the gpg-agent the test started and removes both.
func Pass(t testing.TB) store.Options {
	t.Helper()
	requireProgram(t, "pass", "pass")
	requireProgram(t, "gpg", "gnupg")
	requireProgram(t, "gpg-connect-agent", "gnupg")

	// Short: gpg-agent's socket goes in here, and socket paths are limited
	// to about 100 bytes.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if pid, ok := agentPID(home); ok {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
		os.RemoveAll(home)
	})
	t.Setenv("GNUPGHOME", home)
	run(t, nil, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
		"--quick-generate-key", "ci <ci@example.invalid>", "future-default", "default", "never")
	fpr := fingerprint(t, run(t, nil, "gpg", "--batch", "--list-secret-keys", "--with-colons"))

	dir := filepath.Join(t.TempDir(), "password-store")
	t.Setenv("PASSWORD_STORE_DIR", dir)
	run(t, nil, "pass", "init", fpr)
	return store.Options{PassDir: dir}
}

// GPGAgentPID returns the process ID of the gpg-agent serving GNUPGHOME.
func GPGAgentPID(t testing.TB) int {
	t.Helper()
	pid, ok := agentPID(os.Getenv("GNUPGHOME"))
	if !ok {
		t.Fatal("no gpg-agent is running for GNUPGHOME")
	}
	return pid
}

// agentPID asks the agent of home for its process ID, without starting one
// and without waiting long for one that does not answer.
func agentPID(home string) (int, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gpg-connect-agent", "--no-autostart", "getinfo pid", "/bye")
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	out, err := cmd.Output()
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(line, "D "); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(s))
			return pid, err == nil && pid > 0
		}
	}
	return 0, false
}

// fingerprint returns the first secret key's fingerprint in a colon listing.
func fingerprint(t testing.TB, listing []byte) string {
	t.Helper()
	inKey := false
	for _, line := range strings.Split(string(listing), "\n") {
		f := strings.Split(line, ":")
		switch {
		case f[0] == "sec":
			inKey = true
		case f[0] == "fpr" && inKey && len(f) > 9:
			return f[9]
		}
	}
	t.Fatalf("no secret key fingerprint in gpg's listing:\n%s", listing)
	return ""
}

// requireProgram fails the test unless program is on PATH.
func requireProgram(t testing.TB, program, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		t.Fatalf("%s is not installed: apt-get install -y %s", program, pkg)
	}
}

// run runs a program with stdin and returns its stdout, failing the test,
// with its stderr, if it fails.
func run(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}
