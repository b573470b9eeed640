package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// EnvFilePassphrase names the environment variable that holds the file
// backend's passphrase. It is not a setting: the config file may name a file
// holding the passphrase (file_passphrase_file), never hold it.
const EnvFilePassphrase = "ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE"

// maxPassphraseFile caps what is read from a passphrase file.
const maxPassphraseFile = 64 << 10

// passphrase is a passphrase and where it came from, for messages.
type passphrase struct {
	secret []byte
	from   string
}

// givenPassphrase returns the passphrase the environment or the passphrase
// file gives, in that order, or nil if neither is set. It never asks.
func givenPassphrase(o Options) (*passphrase, error) {
	if v := os.Getenv(EnvFilePassphrase); v != "" {
		return &passphrase{[]byte(v), EnvFilePassphrase}, nil
	}
	if o.FilePassphraseFile == "" {
		return nil, nil
	}
	name, err := expandHome(o.FilePassphraseFile)
	if err != nil {
		return nil, fmt.Errorf("%w: passphrase file %s: %w", ErrUnavailable, o.FilePassphraseFile, err)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the passphrase file: %w", ErrUnavailable, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: reading the passphrase file: %w", ErrUnavailable, err)
	}
	if err := checkPrivate("passphrase file", name, fi, false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPassphraseFile+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: reading the passphrase file: %w", ErrUnavailable, err)
	case len(b) > maxPassphraseFile:
		return nil, fmt.Errorf("%w: passphrase file %s is larger than %d bytes: it should hold only the passphrase", ErrUnavailable, name, maxPassphraseFile)
	}
	// One final line ending is the editor's, not the passphrase's.
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: passphrase file %s is empty", ErrUnavailable, name)
	}
	return &passphrase{b, "passphrase file " + name}, nil
}

func errNoPassphrase(dir string) error {
	return fmt.Errorf("%w: no passphrase for the encrypted credential store in %s: set %s, "+
		"or name a file holding it with the file_passphrase_file setting (or ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE_FILE), "+
		"or run the command from a terminal to be asked for it on %s",
		ErrUnavailable, dir, EnvFilePassphrase, ttyName)
}

// haveTerminal reports whether promptPassphrase has a terminal to ask on.
func haveTerminal() bool {
	tty, err := os.OpenFile(ttyName, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer tty.Close()
	return term.IsTerminal(int(tty.Fd()))
}

// promptPassphrase asks for the passphrase on the terminal: the prompt on
// stderr, the answer read from the terminal device with echo off, never from
// stdin or stdout, which carry the protocol. A new store asks twice. The
// answer must come before ctx's deadline; the terminal is put back as it was
// in any case.
func promptPassphrase(ctx context.Context, dir string, isNew bool) (*passphrase, error) {
	tty, err := os.OpenFile(ttyName, os.O_RDWR, 0)
	if err != nil {
		return nil, errNoPassphrase(dir)
	}
	reading := false // a read left running at the deadline still uses the terminal
	defer func() {
		if !reading {
			tty.Close()
		}
	}()
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return nil, errNoPassphrase(dir)
	}
	// Give up a little before ctx does, so that the terminal gets its echo
	// back before the caller abandons this call and the process exits.
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		deadline = deadline.Add(-min(250*time.Millisecond, time.Until(deadline)/10))
	}
	ask := func(prompt string) ([]byte, error) {
		if hasDeadline {
			prompt += fmt.Sprintf(" (within %ds)", int(time.Until(deadline).Seconds()))
		}
		state, err := term.GetState(fd)
		if err != nil {
			return nil, errNoPassphrase(dir)
		}
		if err := echoOff(fd); err != nil {
			return nil, errNoPassphrase(dir)
		}
		defer term.Restore(fd, state)
		fmt.Fprint(os.Stderr, prompt+": ")
		type answer struct {
			b   []byte
			err error
		}
		done := make(chan answer, 1)
		go func() {
			b, err := term.ReadPassword(fd)
			done <- answer{b, err}
		}()
		var timeout <-chan time.Time
		if hasDeadline {
			t := time.NewTimer(time.Until(deadline))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case a := <-done:
			fmt.Fprintln(os.Stderr)
			if a.err != nil {
				return nil, fmt.Errorf("%w: reading the passphrase from %s: %w", ErrUnavailable, ttyName, a.err)
			}
			return a.b, nil
		case <-timeout:
		case <-ctx.Done():
		}
		reading = true
		fmt.Fprintln(os.Stderr)
		return nil, fmt.Errorf("%w: no passphrase was typed in time: allow more with --timeout (ACTIVELOOP_CREDENTIAL_TIMEOUT), or give it with %s or a passphrase file", ErrUnavailable, EnvFilePassphrase)
	}
	if !isNew {
		p, err := ask("passphrase of the credential store in " + dir)
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, errors.New("the passphrase is empty")
		}
		return &passphrase{p, "the passphrase typed"}, nil
	}
	p, err := ask("new passphrase for the credential store in " + dir)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("the passphrase is empty; nothing was written")
	}
	again, err := ask("the same passphrase again")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p, again) {
		return nil, errors.New("the two passphrases differ; nothing was written")
	}
	return &passphrase{p, "the passphrase typed"}, nil
}
