//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// doctorEnv is the environment of a machine with no secure store set up: no
// session bus, no password store, no passphrase for the file store.
func doctorEnv(t *testing.T) (env []string, home string) {
	home = t.TempDir()
	return []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"XDG_RUNTIME_DIR=" + t.TempDir(),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"PASSWORD_STORE_DIR=" + filepath.Join(home, "no-store"),
		"GNUPGHOME=" + filepath.Join(home, "no-gnupg"),
	}, home
}

func runDoctor(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(builtHelper(t), mainName), append(args, "doctor")...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if stderr.Len() > 0 {
		t.Errorf("doctor wrote to stderr: %s", stderr.String())
	}
	return string(out), code
}

// backendLine returns doctor's verdict on one backend.
func backendLine(t *testing.T, report, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` +(.*)$`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("doctor says nothing of %s:\n%s", name, report)
	}
	return m[1]
}

func TestDoctorWithNothingSetUp(t *testing.T) {
	env, home := doctorEnv(t)
	report, code := runDoctor(t, env)
	if code != 1 {
		t.Errorf("exit status %d with no usable store for auto, want 1\n%s", code, report)
	}
	for name, why := range map[string]string{
		"keychain":       "not on this system",
		"wincred":        "not on this system",
		"secret-service": "unusable: no D-Bus session bus is running",
		"kwallet":        "unusable: no D-Bus session bus is running",
		"pass":           "unusable: the password store " + filepath.Join(home, "no-store") + " is not initialised: run `pass init",
		"keyctl":         "usable",
		"file":           "unusable: no passphrase",
	} {
		if got := backendLine(t, report, name); !strings.HasPrefix(got, why) {
			t.Errorf("%s: %q, want it to start %q", name, got, why)
		}
	}
	for _, want := range []string{
		"config file: " + filepath.Join(home, ".config", "activeloop", "credential-helper.toml") + " (absent",
		"selected: none: no usable secure store here (tried secret-service, kwallet, pass, file)",
		"keyctl is usable here: choose it with --backend keyctl",
		"plaintext tokens:\n  none (" + filepath.Join(home, ".activeloop", "token") + " is absent)",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	// An explicit, usable choice is what matters.
	if report, code := runDoctor(t, env, "--backend", "keyctl"); code != 0 || !strings.Contains(report, "selected: keyctl (chosen by --backend)") {
		t.Errorf("doctor --backend keyctl: exit %d\n%s", code, report)
	}
	if report, code := runDoctor(t, append(env, "ACTIVELOOP_CREDENTIAL_BACKEND=pass")); code != 1 || !strings.Contains(report, "selected: none: pass is not usable here") {
		t.Errorf("doctor with an unusable backend chosen: exit %d\n%s", code, report)
	}
}

func TestDoctorFindsEachStore(t *testing.T) {
	t.Run("secret-service", func(t *testing.T) {
		env, _ := doctorEnv(t)
		env = append(env, "DBUS_SESSION_BUS_ADDRESS="+testenv.SecretService(t))
		report, code := runDoctor(t, env)
		if got := backendLine(t, report, "secret-service"); got != "usable" || code != 0 ||
			!strings.Contains(report, "selected: secret-service (auto: secret-service is usable)") {
			t.Errorf("exit %d\n%s", code, report)
		}
		if got := backendLine(t, report, "kwallet"); !strings.Contains(got, "unusable: no KWallet") && !strings.Contains(got, "kwalletd") {
			t.Errorf("kwallet on a bus without it: %q", got)
		}
	})
	t.Run("kwallet", func(t *testing.T) {
		env, _ := doctorEnv(t)
		env = append(env, "DBUS_SESSION_BUS_ADDRESS="+testenv.KWallet(t))
		report, code := runDoctor(t, env)
		if got := backendLine(t, report, "kwallet"); got != "usable" || code != 0 ||
			!strings.Contains(report, "selected: kwallet (auto: kwallet is usable; passed over secret-service (") {
			t.Errorf("exit %d\n%s", code, report)
		}
	})
	t.Run("pass", func(t *testing.T) {
		env, _ := doctorEnv(t)
		testenv.Pass(t)
		env = append(env, "GNUPGHOME="+os.Getenv("GNUPGHOME"), "PASSWORD_STORE_DIR="+os.Getenv("PASSWORD_STORE_DIR"))
		report, code := runDoctor(t, env)
		if got := backendLine(t, report, "pass"); got != "usable" || code != 0 ||
			!strings.Contains(report, "selected: pass (auto: pass is usable; passed over secret-service (no D-Bus session bus") {
			t.Errorf("exit %d\n%s", code, report)
		}
	})
	t.Run("file", func(t *testing.T) {
		env, home := doctorEnv(t)
		dir := filepath.Join(home, "credentials")
		env = append(env, "ACTIVELOOP_CREDENTIAL_FILE_DIR="+dir, "ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE=correct horse battery staple")
		report, code := runDoctor(t, env)
		if got := backendLine(t, report, "file"); got != "usable" || code != 0 ||
			!strings.Contains(report, "selected: file (auto: fell back to file") {
			t.Errorf("exit %d\n%s", code, report)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("doctor created the file store at %s (%v): it must change nothing", dir, err)
		}
	})
}

func TestDoctorReportsPlaintextTokens(t *testing.T) {
	env, home := doctorEnv(t)
	const token = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImEtdXNlciJ9.c2VjcmV0LXNpZ25hdHVyZQ"
	if err := os.MkdirAll(filepath.Join(home, ".activeloop"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, ".activeloop", "token")
	if err := os.WriteFile(path, []byte(token), 0o644); err != nil {
		t.Fatal(err)
	}
	report, _ := runDoctor(t, env)
	want := "  " + path + " (mode 0644, readable by other users): move it into the secure store with\n      " + mainName + " import --remove"
	if !strings.Contains(report, want) {
		t.Errorf("report lacks %q:\n%s", want, report)
	}
	if strings.Contains(report, token) || strings.Contains(report, "c2VjcmV0") {
		t.Errorf("doctor printed the token:\n%s", report)
	}
}
