package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/activeloopai/activeloop-credential-helper/helper"
)

// newTestSetup returns a setup for server with the given options, a fake
// binary of its own to link to, and the environment in vars.
func newTestSetup(t *testing.T, server string, o setupOptions, vars map[string]string) (*setup, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, mainName)
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := helper.ParseServer(server)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	s := &setup{
		opts:   o,
		getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		stdout: &stdout,
		stderr: &stderr,
		exe:    exe,
		server: srv,
	}
	return s, &stdout, &stderr
}

func TestJSONObjectKeepsMembersAndOrder(t *testing.T) {
	in := `{"z":1,"a":{"y":[1,2.50,1e400,"\u00e9<>&"],"b":null},"dup":1,"<>&":"\u003c","empty":{},"dup":2}`
	o, err := parseJSONObject([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"z", "a", "dup", "<>&", "empty"}; !reflect.DeepEqual(o.keys, want) {
		t.Errorf("keys = %q, want %q", o.keys, want)
	}
	got, err := o.marshal()
	// A key given twice keeps its first place and its last value, as the
	// docker CLI reads it; every value keeps its text.
	want := `{"z":1,"a":{"y":[1,2.50,1e400,"\u00e9<>&"],"b":null},"dup":2,"<>&":"\u003c","empty":{}}`
	if err != nil || string(got) != want {
		t.Fatalf("marshal = %s, %v\nwant %s", got, err, want)
	}
	indented, err := o.marshalIndent()
	if err != nil || !bytes.HasSuffix(indented, []byte("}\n")) || !bytes.Contains(indented, []byte("\n\t\"z\": 1,\n")) {
		t.Errorf("marshalIndent = %s, %v", indented, err)
	}
	for _, empty := range []string{"", " \n\t"} {
		if o, err := parseJSONObject([]byte(empty)); err != nil || len(o.keys) != 0 {
			t.Errorf("parse %q = %v, %v; want an empty object, as docker reads an empty config.json", empty, o, err)
		}
	}
}

func TestParseJSONObjectErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"{\n\t\"a\": 1\n\t\"b\": 2\n}", "not valid JSON at line 3, column 2"},
		{`{"a":`, "not valid JSON: it ends too early"},
		{`[1]`, "not a JSON object"},
		{`"config"`, "not a JSON object"},
		{`null`, "not a JSON object"},
		{`{"a":1} {"b":2}`, "not valid JSON: more follows the object"},
		{`{"a":1}]`, "not valid JSON"},
		{"\xef\xbb\xbf{}", "not valid JSON at line 1, column 1"},
	} {
		_, err := parseJSONObject([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse %q: %v, want %q", tt.in, err, tt.want)
		}
	}
}

// A config.json that links elsewhere (a dotfiles repository) stays a link,
// the file it links to keeps its mode, and a run that changes nothing does
// not write.
func TestSetupDockerKeepsLinkModeAndFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes and symbolic links differ on Windows")
	}
	dir := t.TempDir()
	dotfile := filepath.Join(dir, "dotfiles", "docker.json")
	os.MkdirAll(filepath.Dir(dotfile), 0o755)
	if err := os.WriteFile(dotfile, []byte(`{"credsStore":"pass"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	configDir := filepath.Join(dir, "docker")
	os.Mkdir(configDir, 0o700)
	if err := os.Symlink(dotfile, filepath.Join(configDir, "config.json")); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"DOCKER_CONFIG": configDir}
	s, stdout, _ := newTestSetup(t, "https://app.activeloop.ai", setupOptions{binDir: filepath.Join(dir, "bin")}, vars)
	if err := s.docker(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(configDir, "config.json")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("config.json is no longer a link: %v, %v", fi, err)
	}
	fi, err := os.Stat(dotfile)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("the linked file's mode: %v, %v; want 0640", fi, err)
	}
	b, _ := os.ReadFile(dotfile)
	if want := "{\n\t\"credsStore\": \"pass\",\n\t\"credHelpers\": {\n\t\t\"app.activeloop.ai\": \"activeloop\"\n\t}\n}\n"; string(b) != want {
		t.Errorf("config = %q, want %q", b, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(dotfile))
	if len(entries) != 1 {
		t.Errorf("the directory holds %v; want the file alone, no temporary file left", entries)
	}

	stdout.Reset()
	if err := s.docker(); err != nil {
		t.Fatal(err)
	}
	again, err := os.Stat(dotfile)
	if err != nil || !os.SameFile(fi, again) || !again.ModTime().Equal(fi.ModTime()) {
		t.Errorf("a run with nothing to change wrote the file")
	}
	if !strings.Contains(stdout.String(), "already has credHelpers") {
		t.Errorf("stdout = %q", stdout)
	}
}

// A missing DOCKER_CONFIG directory, nested, is created private.
func TestSetupDockerMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	configDir := filepath.Join(dir, "a", "b", "docker")
	s, stdout, _ := newTestSetup(t, "http://127.0.0.1:5000", setupOptions{binDir: filepath.Join(dir, "bin")}, map[string]string{"DOCKER_CONFIG": configDir})
	if err := s.docker(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(configDir, "config.json"))
	if err != nil || string(b) != "{\n\t\"credHelpers\": {\n\t\t\"127.0.0.1:5000\": \"activeloop\"\n\t}\n}\n" {
		t.Fatalf("config.json = %q, %v", b, err)
	}
	if fi, err := os.Stat(configDir); runtime.GOOS != "windows" && (err != nil || fi.Mode().Perm() != 0o700) {
		t.Errorf("%s: %v, %v; want mode 0700", configDir, fi, err)
	}
	if !strings.Contains(stdout.String(), "created "+filepath.Join(configDir, "config.json")+":\n") {
		t.Errorf("stdout = %q", stdout)
	}
}

// Without DOCKER_CONFIG the config is ~/.docker/config.json.
func TestDockerConfigFile(t *testing.T) {
	home := "HOME"
	if runtime.GOOS == "windows" {
		home = "USERPROFILE"
	}
	for _, tt := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"DOCKER_CONFIG": "/d", home: "/h"}, filepath.Join("/d", "config.json")},
		{map[string]string{"DOCKER_CONFIG": "", home: "/h"}, filepath.Join("/h", ".docker", "config.json")},
		{map[string]string{home: "/h"}, filepath.Join("/h", ".docker", "config.json")},
	} {
		got, err := dockerConfigFile(func(k string) (string, bool) { v, ok := tt.vars[k]; return v, ok })
		if err != nil || got != tt.want {
			t.Errorf("%v: %q, %v; want %q", tt.vars, got, err, tt.want)
		}
	}
	if _, err := dockerConfigFile(func(string) (string, bool) { return "", false }); err == nil {
		t.Error("no DOCKER_CONFIG and no home: no error")
	}
}

func TestSetupLinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("links are hard links on Windows")
	}
	dir := t.TempDir()
	vars := map[string]string{"DOCKER_CONFIG": filepath.Join(dir, "docker")}

	// Next to the binary: by its base name, as packages install it.
	s, _, _ := newTestSetup(t, "https://app.activeloop.ai", setupOptions{}, vars)
	if err := s.installLink(dockerName); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(filepath.Dir(s.exe), dockerName)
	if target, err := os.Readlink(link); err != nil || target != mainName {
		t.Errorf("link next to the binary -> %q, %v; want %q", target, err, mainName)
	}

	// Elsewhere: by the binary's absolute path, the directory made.
	bin := filepath.Join(dir, "new", "bin")
	s.opts.binDir = bin
	if err := s.installLink(gitName); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(bin, gitName)); err != nil || target != s.exe {
		t.Errorf("link in --bin-dir -> %q, %v; want %q", target, err, s.exe)
	}

	// A file of someone else's: an error, untouched; --force replaces it;
	// undo leaves a foreign file alone and removes only ours.
	foreign := filepath.Join(bin, dockerName)
	os.WriteFile(foreign, []byte("someone else's"), 0o755)
	if err := s.installLink(dockerName); err == nil || !strings.Contains(err.Error(), "exists and is a file that is not this binary") {
		t.Errorf("over a foreign file: %v", err)
	}
	s.opts.undo = true
	if err := s.removeLink(dockerName); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(foreign); string(b) != "someone else's" {
		t.Errorf("undo touched a foreign file")
	}
	s.opts.undo, s.opts.force = false, true
	if err := s.installLink(dockerName); err != nil {
		t.Fatal(err)
	}
	if !sameFile(foreign, s.exe) {
		t.Errorf("--force did not replace the foreign file")
	}
	s.opts.undo = true
	for _, name := range []string{dockerName, gitName} {
		if err := s.removeLink(name); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(bin, name)); !os.IsNotExist(err) {
			t.Errorf("%s after undo: %v", name, err)
		}
	}
	if _, err := os.Stat(s.exe); err != nil {
		t.Errorf("undo touched the binary: %v", err)
	}
}

// setup git changes the file git itself uses as global config: here the XDG
// one, since there is no ~/.gitconfig.
func TestSetupGitXDGConfig(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed: apt-get install -y git")
	}
	dir := t.TempDir()
	home, xdg := filepath.Join(dir, "home"), filepath.Join(dir, "xdg")
	os.MkdirAll(filepath.Join(xdg, "git"), 0o700)
	os.MkdirAll(home, 0o700)
	xdgConfig := filepath.Join(xdg, "git", "config")
	if err := os.WriteFile(xdgConfig, []byte("[user]\n\tname = Alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// git runs with this process's environment.
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", xdg)
	t.Setenv("GIT_CONFIG_GLOBAL", "")
	os.Unsetenv("GIT_CONFIG_GLOBAL")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")

	s, stdout, _ := newTestSetup(t, "https://App.activeloop.ai:443/", setupOptions{binDir: filepath.Join(dir, "bin")}, map[string]string{"HOME": home})
	if err := s.git(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(xdgConfig)
	if want := "[user]\n\tname = Alice\n[credential \"https://app.activeloop.ai\"]\n\thelper = activeloop\n"; string(b) != want {
		t.Errorf("%s = %q, want %q", xdgConfig, b, want)
	}
	if _, err := os.Stat(filepath.Join(home, ".gitconfig")); !os.IsNotExist(err) {
		t.Errorf("~/.gitconfig: %v; want none made", err)
	}
	if !strings.Contains(stdout.String(), "+ credential.https://app.activeloop.ai.helper = activeloop\n") {
		t.Errorf("stdout = %q", stdout)
	}

	s.opts.undo = true
	if err := s.git(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(xdgConfig); string(b) != "[user]\n\tname = Alice\n" {
		t.Errorf("%s after undo = %q", xdgConfig, b)
	}
}

func TestReadSetupOptionsFromEitherLevel(t *testing.T) {
	for _, args := range [][]string{
		{"setup", "--undo", "--dry-run", "--bin-dir", "/b", "--server", "http://127.0.0.1:1", "docker"},
		{"setup", "docker", "--undo", "--dry-run", "--bin-dir", "/b", "--server", "http://127.0.0.1:1"},
		{"setup", "--undo", "--bin-dir", "/b", "docker", "--dry-run", "--server", "http://127.0.0.1:1"},
	} {
		var got setupOptions
		e := &appEnv{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) (string, bool) { return "", false }}
		cmds := setupCommands(e)
		cmds[0].Subcommands[0].Action = func(c *cli.Context) error { got = readSetupOptions(c); return nil }
		app := &cli.App{Name: mainName, Commands: cmds, Writer: io.Discard, ErrWriter: io.Discard}
		if err := app.Run(append([]string{mainName}, args...)); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		want := setupOptions{undo: true, dryRun: true, binDir: "/b", server: "http://127.0.0.1:1"}
		if got != want {
			t.Errorf("%q: %+v, want %+v", args, got, want)
		}
	}
}

// A dry run says what it would do, and does nothing.
func TestSetupDockerDryRunChangesNothing(t *testing.T) {
	dir := t.TempDir()
	configDir := filepath.Join(dir, "docker")
	os.Mkdir(configDir, 0o700)
	orig := []byte(`{"credHelpers":{"app.activeloop.ai":"desktop"}}`)
	os.WriteFile(filepath.Join(configDir, "config.json"), orig, 0o600)
	s, stdout, _ := newTestSetup(t, "https://app.activeloop.ai", setupOptions{dryRun: true, force: true, binDir: filepath.Join(dir, "bin")}, map[string]string{"DOCKER_CONFIG": configDir})
	if err := s.docker(); err != nil {
		t.Fatal(err)
	}
	want := "would link " + filepath.Join(dir, "bin", dockerName) + " -> " + s.exe + "\n" +
		"would change " + filepath.Join(configDir, "config.json") + ":\n" +
		"- credHelpers[\"app.activeloop.ai\"] = \"desktop\"\n" +
		"+ credHelpers[\"app.activeloop.ai\"] = \"activeloop\"\n"
	if stdout.String() != want {
		t.Errorf("stdout = %q\nwant %q", stdout, want)
	}
	if b, _ := os.ReadFile(filepath.Join(configDir, "config.json")); !bytes.Equal(b, orig) {
		t.Errorf("a dry run changed config.json: %s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin")); !os.IsNotExist(err) {
		t.Errorf("a dry run made the bin dir: %v", err)
	}
}
