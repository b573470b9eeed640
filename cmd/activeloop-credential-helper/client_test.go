//go:build !windows

package main

import (
	"bytes"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
)

// TestDockerClient drives the built helper with docker-credential-helpers' own
// client package, the code the docker CLI runs for a credsStore, on a real
// password store: what docker sends, and what docker makes of the answers.
func TestDockerClient(t *testing.T) {
	bin := builtHelper(t)
	opts := testenv.Pass(t)
	for _, name := range []string{dockerName, mainName} {
		t.Run(name, func(t *testing.T) {
			env := []string{
				"PATH=" + os.Getenv("PATH"),
				"HOME=" + t.TempDir(),
				"GNUPGHOME=" + os.Getenv("GNUPGHOME"),
				"PASSWORD_STORE_DIR=" + opts.PassDir,
				"ACTIVELOOP_CREDENTIAL_BACKEND=pass",
				// Each name in its own directory of the store: both start empty.
				"ACTIVELOOP_CREDENTIAL_PASS_PREFIX=client/" + name,
				"ACTIVELOOP_CREDENTIAL_HELPER_CONFIG=" + emptyConfig(t),
			}
			p := &clientPrograms{path: filepath.Join(bin, name), env: env}
			testDockerClient(t, p)
			if p.stderr.Len() > 0 {
				t.Errorf("the helper wrote to stderr, which docker shows to people:\n%s", p.stderr.Bytes())
			}
		})
	}
}

func testDockerClient(t *testing.T, p *clientPrograms) {
	program := p.programFunc()

	list, err := client.List(program)
	if err != nil || len(list) != 0 {
		t.Fatalf("List of an empty store = %v, %v; want an empty map", list, err)
	}
	if _, err := client.Get(program, "https://app.activeloop.ai"); !credentials.IsErrCredentialsNotFound(err) {
		t.Fatalf("Get of a server never stored: err = %v; want one that IsErrCredentialsNotFound", err)
	}

	stored := []credentials.Credentials{
		{ServerURL: "https://app.activeloop.ai", Username: "alice", Secret: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"},
		{ServerURL: "127.0.0.1:5000", Username: "local", Secret: "trailing newline\n"},
		{ServerURL: "https://UPPER.example", Username: "org/team", Secret: `quotes " and ' and \ backslash`},
		{ServerURL: "https://index.docker.io/v1/", Username: "ユーザー..名", Secret: "秘密🔑 <&> \u2028\t\x00\x1b"},
		{ServerURL: "https://index.docker.io/v1/access-token", Username: "hubuser", Secret: strings.Repeat("0123456789abcdef", 1024)},
		{ServerURL: "https://index.docker.io/v1/refresh-token", Username: "hubuser", Secret: ""},
	}
	for _, c := range stored {
		if err := client.Store(program, &c); err != nil {
			t.Fatalf("Store %s: %v", c.ServerURL, err)
		}
	}
	for _, c := range stored {
		got, err := client.Get(program, c.ServerURL)
		if err != nil {
			t.Fatalf("Get %s: %v", c.ServerURL, err)
		}
		if *got != c {
			t.Errorf("Get %s = %+q; want %+q", c.ServerURL, *got, c)
		}
	}
	want := map[string]string{}
	for _, c := range stored {
		want[c.ServerURL] = c.Username
	}
	if list, err := client.List(program); err != nil || !maps.Equal(list, want) {
		t.Errorf("List = %q, %v; want %q", list, err, want)
	}

	// A Deep Lake dataset path finds the login of its server.
	got, err := client.Get(program, "hub://org/dataset")
	if err != nil || got.Username != "alice" || got.Secret != stored[0].Secret || got.ServerURL != "hub://org/dataset" {
		t.Errorf("Get hub://org/dataset = %+q, %v; want alice's login, echoing the URL", got, err)
	}

	// A second Store replaces the first.
	bob := credentials.Credentials{ServerURL: "https://app.activeloop.ai", Username: "bob", Secret: "bob-token"}
	if err := client.Store(program, &bob); err != nil {
		t.Fatalf("Store bob: %v", err)
	}
	if got, err := client.Get(program, bob.ServerURL); err != nil || *got != bob {
		t.Errorf("Get after a second Store = %+q, %v; want %+q", got, err, bob)
	}
	want[bob.ServerURL] = bob.Username
	if list, err := client.List(program); err != nil || !maps.Equal(list, want) {
		t.Errorf("List after a second Store = %q, %v; want %q", list, err, want)
	}

	// What docker makes of the protocol's error messages.
	err = client.Store(program, &credentials.Credentials{ServerURL: "https://x.example", Secret: "s"})
	if err == nil || !strings.Contains(err.Error(), "no credentials username") {
		t.Errorf("Store without a username: err = %v; want one naming %q", err, "no credentials username")
	}
	err = client.Store(program, &credentials.Credentials{Username: "u", Secret: "s"})
	if err == nil || !strings.Contains(err.Error(), "no credentials server URL") {
		t.Errorf("Store without a server URL: err = %v; want one naming %q", err, "no credentials server URL")
	}
	if _, err := client.Get(program, ""); err == nil || !strings.Contains(err.Error(), "no credentials server URL") {
		t.Errorf("Get of an empty URL: err = %v; want one naming %q", err, "no credentials server URL")
	}
	if err := client.Erase(program, ""); err == nil || !strings.Contains(err.Error(), "no credentials server URL") {
		t.Errorf("Erase of an empty URL: err = %v; want one naming %q", err, "no credentials server URL")
	}
	for _, url := range []string{"app.activeloop.ai.evil.example", "https://app.activeloop.ai@evil.example", "https://app.activeloop.ai:8443"} {
		if got, err := client.Get(program, url); !credentials.IsErrCredentialsNotFound(err) {
			t.Errorf("Get %s = %+q, %v; want not found", url, got, err)
		}
	}

	// Erase removes one entry; erasing it again succeeds.
	for range 2 {
		if err := client.Erase(program, "127.0.0.1:5000"); err != nil {
			t.Fatalf("Erase: %v", err)
		}
	}
	if _, err := client.Get(program, "127.0.0.1:5000"); !credentials.IsErrCredentialsNotFound(err) {
		t.Errorf("Get after Erase: err = %v; want not found", err)
	}
	delete(want, "127.0.0.1:5000")
	// Erasing a deeper path leaves its parent's entry, which get then finds
	// by the longest path prefix (SPEC §5), never the erased secret.
	if err := client.Erase(program, "https://index.docker.io/v1/access-token"); err != nil {
		t.Fatalf("Erase: %v", err)
	}
	delete(want, "https://index.docker.io/v1/access-token")
	if got, err := client.Get(program, "https://index.docker.io/v1/access-token"); err != nil || got.Username != stored[3].Username || got.Secret != stored[3].Secret {
		t.Errorf("Get of an erased path = %+q, %v; want the entry of its parent path, %s", got, err, stored[3].ServerURL)
	}
	if list, err := client.List(program); err != nil || !maps.Equal(list, want) {
		t.Errorf("List after Erase = %q, %v; want %q", list, err, want)
	}
	for server := range want {
		if err := client.Erase(program, server); err != nil {
			t.Fatalf("Erase %s: %v", server, err)
		}
	}
	if list, err := client.List(program); err != nil || len(list) != 0 {
		t.Errorf("List after erasing everything = %q, %v; want an empty map", list, err)
	}
}

// clientPrograms runs the helper for the client package as its Shell does
// (client.NewShellProgramFunc), but with an explicit environment and its
// stderr kept for the test.
type clientPrograms struct {
	path   string
	env    []string
	stderr bytes.Buffer
}

func (p *clientPrograms) programFunc() client.ProgramFunc {
	return func(args ...string) client.Program {
		cmd := exec.Command(p.path, args...)
		cmd.Env = p.env
		cmd.Stderr = &p.stderr
		return clientProgram{cmd}
	}
}

type clientProgram struct{ cmd *exec.Cmd }

func (c clientProgram) Output() ([]byte, error) { return c.cmd.Output() }
func (c clientProgram) Input(in io.Reader)      { c.cmd.Stdin = in }
