package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
	"github.com/activeloopai/activeloop-credential-helper/store"
)

// TestScriptKeyctl runs every script against the kernel keyring in the user
// scope, the backend's default. The helper's keyring there is one per user,
// so the scripts run one at a time, each starting with no keyring and
// removing it when done.
func TestScriptKeyctl(t *testing.T) {
	runScripts(t, scriptFamily{
		backend: "keyctl",
		serial:  true,
		setup: func(e *testscript.Env) error {
			opts := testenv.Keyctl(e.T().(testing.TB))
			e.Setenv("ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE", opts.KeyctlScope)
			return nil
		},
		cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// keyctl-ring sets KEYCTL_RING to the ID of the helper's
			// keyring in the user keyring, for keyctl(1) in the scripts.
			"keyctl-ring": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 0 {
					ts.Fatalf("usage: keyctl-ring")
				}
				out, err := exec.Command("keyctl", "search", "@u", "keyring", store.Namespace).Output()
				if err != nil {
					ts.Fatalf("the helper's keyring is not in the user keyring: keyctl search: %v", err)
				}
				ts.Setenv("KEYCTL_RING", strings.TrimSpace(string(out)))
			},
		},
	})
}
