package store

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive lock on f, waiting for it. Windows drops it
// when the process dies.
func lockFile(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &ol)
}

func unlockFile(f *os.File) error {
	var ol windows.Overlapped
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}

func openNoFollow(name string) (*os.File, error) { return os.Open(name) }

// checkPrivate checks only the kind of file: on Windows a directory under
// %AppData% inherits an ACL that admits only the user, SYSTEM and
// Administrators, and mode bits say nothing about ACLs.
func checkPrivate(what, name string, fi fs.FileInfo, dir bool) error {
	switch {
	case dir && !fi.IsDir():
		return errors.New(what + " " + name + " is not a directory")
	case !dir && !fi.Mode().IsRegular():
		return errors.New(what + " " + name + " is not a regular file")
	}
	return nil
}

// syncDir does nothing: Windows cannot open a directory to flush it, and
// NTFS journals renames.
func syncDir(string) error { return nil }

// replaceFile renames from onto to (MoveFileEx with MOVEFILE_REPLACE_EXISTING,
// atomic on NTFS). A reader holding the old file open makes it fail for a
// moment: retry briefly.
func replaceFile(from, to string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.Rename(from, to); err == nil || !errors.Is(err, windows.ERROR_ACCESS_DENIED) && !errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// ttyName is the console a passphrase is asked on.
var ttyName = "CONIN$"

// echoOff stops the console echoing what is typed, before the prompt is
// shown.
func echoOff(fd int) error {
	var mode uint32
	if err := windows.GetConsoleMode(windows.Handle(fd), &mode); err != nil {
		return err
	}
	return windows.SetConsoleMode(windows.Handle(fd), mode&^windows.ENABLE_ECHO_INPUT)
}
