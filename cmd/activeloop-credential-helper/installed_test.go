//go:build installed && linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// These tests run against the helper as its package installs it — the binary
// and its two protocol names in /usr/bin, found on PATH by docker and git.
// scripts/release-check installs the .deb, then runs them:
//
//	go test -tags installed -run Installed ./cmd/activeloop-credential-helper

const installedBin = "/usr/bin"

func TestInstalledPackageFiles(t *testing.T) {
	main := filepath.Join(installedBin, mainName)
	for _, name := range []string{dockerName, "git-credential-activeloop"} {
		target, err := filepath.EvalSymlinks(filepath.Join(installedBin, name))
		if err != nil || target != main {
			t.Errorf("%s resolves to %q (%v), want %s", name, target, err, main)
		}
	}
	for _, f := range []string{
		"/usr/share/man/man1/activeloop-credential-helper.1",
		"/usr/share/bash-completion/completions/activeloop-credential-helper",
		"/usr/share/zsh/vendor-completions/_activeloop-credential-helper",
		"/usr/share/fish/vendor_completions.d/activeloop-credential-helper.fish",
	} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the package did not install %s: %v", f, err)
		}
	}
	out, err := exec.Command(filepath.Join(installedBin, dockerName), "version").Output()
	if err != nil || !strings.HasPrefix(string(out), dockerName+" ("+modulePath+") ") {
		t.Errorf("%s version = %q, %v", dockerName, out, err)
	}
}

// docker login, a stored re-login and logout, through the installed helper
// named in config.json's credHelpers.
func TestInstalledPackageWithDocker(t *testing.T) {
	dockerPath, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("the docker CLI is needed: apt-get install -y docker-ce-cli (or docker.io)")
	}
	addr, user, password := testenv.Registry(t)
	config := fmt.Sprintf(`{"credHelpers": {%q: "activeloop"}}`, addr)
	d := newDockerCLIEnv(t, dockerPath, installedBin, "keyctl", privateSessionKeyring(t), config)
	d.addr, d.user, d.password, d.daemon = addr, user, password, newStandInDaemon(t, addr)
	d.run(t)
}

// git stores, fills and rejects through git-credential-activeloop on PATH.
func TestInstalledPackageWithGit(t *testing.T) {
	opts := privateSessionKeyring(t)
	home := t.TempDir()
	env := []string{
		"HOME=" + home,
		"PATH=" + installedBin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + filepath.Join(home, "none.toml"),
		"ACTIVELOOP_CREDENTIAL_BACKEND=keyctl",
		"ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE=" + opts.KeyctlScope,
	}
	if err := os.WriteFile(filepath.Join(home, "none.toml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	git := func(op, in string) (string, error) {
		cmd := exec.Command("git", "-c", "credential.helper=activeloop", "credential", op)
		cmd.Env, cmd.Stdin = env, strings.NewReader(in)
		out, err := cmd.Output()
		return string(out), err
	}
	const query = "protocol=https\nhost=git.example.com\n\n"
	if _, err := git("approve", "protocol=https\nhost=git.example.com\nusername=a-user\npassword=s3cret-token\n\n"); err != nil {
		t.Fatalf("git credential approve: %v", err)
	}
	out, err := git("fill", query)
	if err != nil || !strings.Contains(out, "username=a-user\n") || !strings.Contains(out, "password=s3cret-token\n") {
		t.Fatalf("git credential fill after approve = %q, %v", out, err)
	}
	if _, err := git("reject", "protocol=https\nhost=git.example.com\nusername=a-user\npassword=s3cret-token\n\n"); err != nil {
		t.Fatalf("git credential reject: %v", err)
	}
	if out, err := git("fill", query); err == nil {
		t.Fatalf("git credential fill after reject found %q; want no credential (and no prompt)", out)
	}
}
