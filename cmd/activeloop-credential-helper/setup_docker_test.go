//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// TestSetupDockerCLI sets docker up with `setup docker` alone, on a
// config.json that already has other helpers and fields, with the binary
// installed on its own as `go install` leaves it: then `docker login` and
// `docker logout` against a real registry go through the helper, with no
// other configuration. `setup --undo docker` takes it all back.
func TestSetupDockerCLI(t *testing.T) {
	dockerPath, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("the docker CLI is needed: apt-get install -y docker-ce-cli (or docker.io)")
	}
	addr, user, password := testenv.Registry(t)
	opts := testenv.Pass(t)

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	home := filepath.Join(tmp, "home")
	dockerDir := filepath.Join(home, ".docker")
	for _, dir := range []string{bin, dockerDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.ReadFile(filepath.Join(builtHelper(t), mainName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, mainName), exe, 0o755); err != nil {
		t.Fatal(err)
	}
	const original = `{"auths":{"ghcr.io":{}},"credHelpers":{"gcr.io":"gcloud"},"psFormat":"table {{.ID}}","aFutureField":{"x":[1,2]}}`
	configFile := filepath.Join(dockerDir, "config.json")
	if err := os.WriteFile(configFile, []byte(original), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"HOME=" + home, // docker's config in ~/.docker: no DOCKER_CONFIG
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + emptyConfig(t),
		"ACTIVELOOP_CREDENTIAL_BACKEND=pass",
		"ACTIVELOOP_CREDENTIAL_PASS_DIR=" + opts.PassDir,
		"GNUPGHOME=" + os.Getenv("GNUPGHOME"),
		"PASSWORD_STORE_DIR=" + os.Getenv("PASSWORD_STORE_DIR"),
		"LANG=C.UTF-8",
	}
	noDaemon := "DOCKER_HOST=unix://" + filepath.Join(tmp, "no-daemon.sock")
	run := func(t *testing.T, stdin, path string, args ...string) commandResult {
		t.Helper()
		e := env
		if path == dockerPath {
			e = append(env[:len(env):len(env)], noDaemon)
		}
		r := runProgram(t, dockerCLITimeout, path, args, stdin, e)
		r.args = filepath.Base(path) + " " + strings.Join(args, " ")
		return r
	}
	helper := filepath.Join(bin, dockerName)
	readConfig := func(t *testing.T) map[string]any {
		t.Helper()
		b, err := os.ReadFile(configFile)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), password) {
			t.Fatalf("config.json holds the password")
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("config.json: %v\n%s", err, b)
		}
		return m
	}

	// Once.
	r := run(t, "", filepath.Join(bin, mainName), "--server", "http://"+addr, "setup", "docker")
	if r.code != 0 ||
		!strings.Contains(r.stdout, "linked "+helper+" -> "+mainName+"\n") ||
		!strings.Contains(r.stdout, `+ credHelpers["`+addr+`"] = "activeloop"`) || r.stderr != "" {
		t.Fatalf("setup docker: %s", r)
	}
	var want map[string]any
	json.Unmarshal([]byte(original), &want)
	want["credHelpers"].(map[string]any)[addr] = "activeloop"
	if got := readConfig(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("config.json after setup = %v, want %v", got, want)
	}

	// docker login stores through the helper.
	r = run(t, password+"\n", dockerPath, "login", addr, "-u", user, "--password-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, dockerSucceeded) {
		t.Fatalf("docker login: %s", r)
	}
	if r := run(t, "", helper, "list"); r.code != 0 || r.stdout != `{"`+addr+`":"`+user+`"}`+"\n" {
		t.Errorf("helper list after docker login: %s", r)
	}
	if r := run(t, addr, helper, "get"); r.code != 0 || r.stdout != dockerCredentialsJSON(addr, user, password) {
		t.Errorf("helper get after docker login: exit status %d, %d bytes on stdout", r.code, len(r.stdout))
	}
	cfg := readConfig(t)
	if !reflect.DeepEqual(cfg["credHelpers"], want["credHelpers"]) || cfg["psFormat"] != want["psFormat"] {
		t.Errorf("config.json after docker login lost settings: %v", cfg)
	}
	if auths, _ := cfg["auths"].(map[string]any); auths[addr] != nil && len(auths[addr].(map[string]any)) != 0 {
		t.Errorf("config.json holds credentials for %s: %v", addr, auths[addr])
	}

	// A wrong password: refused, and the stored one stays.
	r = run(t, "wrong\n", dockerPath, "login", addr, "-u", user, "--password-stdin")
	if r.code == 0 {
		t.Errorf("docker login with a wrong password succeeded: %s", r)
	}
	if r := run(t, addr, helper, "get"); r.code != 0 || r.stdout != dockerCredentialsJSON(addr, user, password) {
		t.Errorf("helper get after a refused login: exit status %d", r.code)
	}

	// docker logout erases through the helper.
	if r := run(t, "", dockerPath, "logout", addr); r.code != 0 {
		t.Fatalf("docker logout: %s", r)
	}
	if r := run(t, addr, helper, "get"); r.code != 1 || r.stdout != dockerNotFoundMsg+"\n" {
		t.Errorf("helper get after docker logout: %s", r)
	}

	// Undo: our entry and the link go, the rest stays.
	r = run(t, "", filepath.Join(bin, mainName), "--server", "http://"+addr, "setup", "--undo", "docker")
	if r.code != 0 || !strings.Contains(r.stdout, `- credHelpers["`+addr+`"] = "activeloop"`) || !strings.Contains(r.stdout, "removed link "+helper) {
		t.Fatalf("setup --undo docker: %s", r)
	}
	if _, err := os.Lstat(helper); !os.IsNotExist(err) {
		t.Errorf("%s after undo: %v", helper, err)
	}
	cfg = readConfig(t)
	if h := cfg["credHelpers"]; !reflect.DeepEqual(h, map[string]any{"gcr.io": "gcloud"}) || cfg["psFormat"] != want["psFormat"] {
		t.Errorf("config.json after undo = %v; want the other helper and settings kept", cfg)
	}
}
