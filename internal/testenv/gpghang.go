//go:build !windows

package testenv

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HangGPGAgent replaces the gpg-agent of GNUPGHOME with a listener on its
// socket that accepts every connection and never answers: gpg then waits
// for the agent's greeting for ever, as it does with a hung agent. Stopping
// the real agent with SIGSTOP does not hold: the agent's process group is
// orphaned, and the kernel continues a stopped member of such a group when
// another member exits. The returned func ends the hang (also at cleanup):
// the socket goes away, and the next gpg starts a new agent.
func HangGPGAgent(t testing.TB) (release func()) {
	t.Helper()
	sock := strings.TrimSpace(string(run(t, nil, "gpgconf", "--list-dirs", "agent-socket")))
	if pid, ok := agentPID(os.Getenv("GNUPGHOME")); ok {
		syscall.Kill(pid, syscall.SIGKILL)
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(pid, 0) == nil && !isZombie(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("taking over the gpg-agent socket: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	var once sync.Once
	release = func() {
		once.Do(func() {
			l.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			os.Remove(sock)
		})
	}
	t.Cleanup(release)
	return release
}

// isZombie reports a process that has exited but was not reaped, which is
// what a killed daemon whose parent is gone stays as where PID 1 does not
// reap.
func isZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
