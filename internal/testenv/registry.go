//go:build linux

package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// registryConfig is a distribution v2 registry on addr with htpasswd
// authentication and storage in a directory of its own.
const registryConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
  secret: %s
auth:
  htpasswd:
    realm: activeloop-credential-helper-test
    path: %s
`

// registryStartTimeout bounds how long the registry may take to listen.
const registryStartTimeout = 15 * time.Second

// RegistryUser is the account Registry creates.
const RegistryUser = "deeplake-ci"

// Registry starts a container registry (Debian's docker-registry) on
// 127.0.0.1 with a free port and basic authentication for one account, and
// returns its address ("127.0.0.1:PORT"), the account's username and its
// password. Plain HTTP: docker treats registries on 127.0.0.0/8 as insecure
// registries it may reach without TLS. The registry is stopped by its PID
// when the test ends.
func Registry(t testing.TB) (addr, user, password string) {
	t.Helper()
	for _, p := range []struct{ program, pkg string }{
		{"docker-registry", "docker-registry"},
		{"htpasswd", "apache2-utils"},
	} {
		if _, err := exec.LookPath(p.program); err != nil {
			t.Fatalf("%s is needed to test against a real registry: install it: apt-get install -y --no-install-recommends %s", p.program, p.pkg)
		}
	}
	dir := t.TempDir()
	user, password = RegistryUser, randomHex(t, 16)

	// bcrypt, as the registry requires; the password goes on stdin, not argv.
	htpasswd := exec.Command("htpasswd", "-iBn", user)
	htpasswd.Stdin = strings.NewReader(password)
	entry, err := htpasswd.Output()
	if err != nil {
		t.Fatalf("htpasswd: %v", err)
	}
	htpasswdFile := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswdFile, entry, 0o600); err != nil {
		t.Fatal(err)
	}

	// The port is free when chosen and may be taken before the registry
	// binds it: try again with another.
	var lastErr error
	for range 5 {
		addr = freeLoopbackAddr(t)
		if lastErr = startRegistry(t, dir, addr, htpasswdFile); lastErr == nil {
			return addr, user, password
		}
	}
	t.Fatalf("starting docker-registry: %v", lastErr)
	return "", "", ""
}

// startRegistry starts the registry on addr and waits until /v2/ asks for
// credentials. On failure the process is already stopped.
func startRegistry(t testing.TB, dir, addr, htpasswdFile string) error {
	run := filepath.Join(dir, strings.ReplaceAll(addr, ":", "_"))
	if err := os.Mkdir(run, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(run, "config.yml")
	text := fmt.Sprintf(registryConfig, filepath.Join(run, "data"), addr, randomHex(t, 16), htpasswdFile)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(run, "registry.log")
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	output := func() string {
		b, _ := os.ReadFile(logPath)
		if len(bytes.TrimSpace(b)) == 0 {
			return ""
		}
		return "\ndocker-registry output:\n" + string(b)
	}

	cmd := exec.Command("docker-registry", "serve", conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting docker-registry: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(registryStartTimeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("docker-registry on %s exited while starting%s", addr, output())
		default:
		}
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				t.Cleanup(stop)
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return fmt.Errorf("docker-registry on %s did not ask for credentials within %s (last answer: %s)%s", addr, registryStartTimeout, last, output())
}

// freeLoopbackAddr returns 127.0.0.1 and a port that was free a moment ago.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
