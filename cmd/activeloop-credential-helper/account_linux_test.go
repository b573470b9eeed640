package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

func init() {
	accountCmds["tty"] = cmdTTY
	accountCmds["notty"] = cmdNoTTY
}

// ttyTimeout bounds each wait for the program at the terminal.
const ttyTimeout = 20 * time.Second

// cmdTTY runs a program in a session of its own whose controlling terminal
// is a new pseudo-terminal, as a person's shell would, and types the lines
// of a file at its password prompts:
//
//	tty [-exit N] input-file program [args...]
//
// Line i is typed only once the program has written its i-th prompt on
// stderr (a line ending in ": ") and then turned the terminal's echo off: it
// is reading a password. A line "^C" types an interrupt instead. The command
// fails if the program does not ask for every line, if anything typed shows
// on the terminal, or if the program leaves the terminal without echo. The program's stdin is empty and its stdout
// and stderr are the script's, as with exec. Its exit status must be N
// (default 0; with !, anything but 0).
func cmdTTY(ts *testscript.TestScript, neg bool, args []string) {
	want, args := exitFlag(ts, neg, args)
	if len(args) < 2 {
		ts.Fatalf("usage: tty [-exit N] input-file program [args...]")
	}
	input := strings.TrimSuffix(ts.ReadFile(args[0]), "\n")
	lines := strings.Split(input, "\n")

	master, slave, err := openPTY()
	ts.Check(err)
	defer master.Close()
	cmd := scriptCommand(ts, args[1:])
	cmd.ExtraFiles = []*os.File{slave} // fd 3 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}
	var screen syncBuffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	exited, code, stderr := start(ts, cmd)

	echo := func() bool {
		t, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		ts.Check(err)
		return t.Lflag&unix.ECHO != 0
	}
	// asking reports whether the program is reading its n-th answer: the
	// prompt is written before echo goes off, and echo is back on before
	// the next prompt.
	asking := func(n int) bool {
		return len(promptRE.FindAllStringIndex(stderr.String(), -1)) >= n && !echo()
	}
	for i, line := range lines {
		deadline := time.Now().Add(ttyTimeout)
		for !asking(i + 1) {
			select {
			case <-exited:
				ts.Fatalf("the program ended before asking for line %d of %s", i+1, args[0])
			case <-time.After(2 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				ts.Fatalf("the program did not ask for line %d of %s within %s", i+1, args[0], ttyTimeout)
			}
		}
		typed := []byte(line + "\n")
		if line == "^C" {
			typed = []byte{3} // the terminal's intr character
		}
		_, err := master.Write(typed)
		ts.Check(err)
	}
	<-exited
	if !echo() {
		ts.Fatalf("the program left the terminal without echo")
	}
	slave.Close()
	select {
	case <-readDone:
	case <-time.After(ttyTimeout):
		ts.Fatalf("the terminal stayed open after the program ended")
	}
	for _, line := range lines {
		if line != "" && line != "^C" && strings.Contains(screen.String(), line) {
			ts.Fatalf("the terminal echoed what was typed: %q", screen.String())
		}
	}
	checkExit(ts, neg, want, *code)
}

// cmdNoTTY runs a program in a session of its own without a controlling
// terminal, as a service or a CI job runs it:
//
//	notty [-exit N] program [args...]
func cmdNoTTY(ts *testscript.TestScript, neg bool, args []string) {
	want, args := exitFlag(ts, neg, args)
	if len(args) < 1 {
		ts.Fatalf("usage: notty [-exit N] program [args...]")
	}
	cmd := scriptCommand(ts, args)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	exited, code, _ := start(ts, cmd)
	select {
	case <-exited:
	case <-time.After(ttyTimeout):
		cmd.Process.Kill()
		<-exited
		ts.Fatalf("the program did not end within %s", ttyTimeout)
	}
	checkExit(ts, neg, want, *code)
}

func exitFlag(ts *testscript.TestScript, neg bool, args []string) (int, []string) {
	if len(args) >= 2 && args[0] == "-exit" {
		if neg {
			ts.Fatalf("! and -exit do not go together")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			ts.Fatalf("bad exit status %q", args[1])
		}
		return n, args[2:]
	}
	return 0, args
}

// promptRE matches a prompt on stderr.
var promptRE = regexp.MustCompile(`(?m): $`)

// start starts cmd with its output going to the script's stdout and stderr;
// exited is closed once it has ended, with its exit status in code. stderr
// is the program's stderr so far.
func start(ts *testscript.TestScript, cmd *exec.Cmd) (exited chan struct{}, code *int, stderr *syncBuffer) {
	var stdout syncBuffer
	stderr = new(syncBuffer)
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	ts.Check(cmd.Start())
	exited, code = make(chan struct{}), new(int)
	scriptOut, scriptErr := ts.Stdout(), ts.Stderr()
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			*code = ee.ExitCode()
		default:
			*code = -1
		}
		scriptOut.Write([]byte(stdout.String()))
		scriptErr.Write([]byte(stderr.String()))
		close(exited)
	}()
	return exited, code, stderr
}

func checkExit(ts *testscript.TestScript, neg bool, want, got int) {
	switch {
	case neg && got == 0:
		ts.Fatalf("the program succeeded unexpectedly")
	case !neg && got != want:
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// openPTY opens a new pseudo-terminal pair.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var n int
	rc, err := master.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
				n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
			}
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlocking a pseudo-terminal: %w", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
