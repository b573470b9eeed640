//go:build !windows

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// TestScriptPass runs every script against a real password store: one gpg key
// and one store for the family, and a pass prefix (a directory of the store)
// for each script, so that the scripts run in parallel and each starts empty.
func TestScriptPass(t *testing.T) {
	opts := testenv.Pass(t)
	gnupgHome := os.Getenv("GNUPGHOME")
	runScripts(t, scriptFamily{
		backend: "pass",
		setup: func(e *testscript.Env) error {
			e.Setenv("GNUPGHOME", gnupgHome)
			e.Setenv("PASSWORD_STORE_DIR", opts.PassDir)
			e.Setenv("ACTIVELOOP_CREDENTIAL_PASS_PREFIX", "scripts/"+filepath.Base(e.WorkDir))
			return nil
		},
	})
}
