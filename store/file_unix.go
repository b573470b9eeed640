//go:build unix

package store

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive advisory lock on f, waiting for it. The kernel
// drops it when the process dies, so a writer killed mid-write blocks nobody.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// openNoFollow opens name for reading, refusing a symbolic link: every file of
// the store is one the helper wrote itself.
func openNoFollow(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
}

// checkPrivate refuses a store directory or file, or a passphrase file, that
// is not the user's alone: another user who can read it can attack the
// passphrase offline, and one who can write it can replace what it holds.
// what names it in the message ("credential directory").
func checkPrivate(what, name string, fi fs.FileInfo, dir bool) error {
	kind, want, fix := "a regular file", os.FileMode(0o600), "chmod 600"
	if dir {
		kind, want, fix = "a directory", 0o700, "chmod 700"
	}
	if dir != fi.IsDir() || !dir && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s is not %s", what, name, kind)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s %s belongs to uid %d, not to this user (uid %d): `chown` it, or use one of your own", what, name, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s %s can be read or written by other users (mode %04o, want %04o): run `%s %s`", what, name, perm, want, fix, name)
	}
	return nil
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && err != syscall.EINVAL {
		return err
	}
	return nil
}

// replaceFile renames from onto to atomically: a reader sees the old file
// or the new one, never a mix.
func replaceFile(from, to string) error { return os.Rename(from, to) }

// ttyName is the terminal a passphrase is asked on.
var ttyName = "/dev/tty"

// echoOff stops the terminal echoing what is typed. It runs before the
// prompt is shown, so that an answer typed or pasted at once is not echoed
// in the moment before term.ReadPassword turns echo off itself.
func echoOff(fd int) error {
	t, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return err
	}
	t.Lflag &^= unix.ECHO
	return unix.IoctlSetTermios(fd, ioctlSetTermios, t)
}
