package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

func TestFileFullDisk(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("mounting a tmpfs is not permitted here (%v): the full-disk test needs root or CAP_SYS_ADMIN", err)
		}
		t.Fatalf("mounting a 64 KiB tmpfs on %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmounting %s: %v", mnt, err)
		}
	})
	o := fileOptions(t)
	o.FileDir = filepath.Join(mnt, "credentials")
	b := mustOpenFile(t, o)
	if err := b.Set(bg(), "kept", []byte("kept value"), ""); err != nil {
		t.Fatal(err)
	}
	// Fill the file system.
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := filler.Write(make([]byte, 1024)); err != nil {
			break
		}
	}
	filler.Close()
	before := snapshot(t, o.FileDir)
	for _, k := range []string{"kept", "new"} {
		err := b.Set(bg(), k, bytes.Repeat([]byte("y"), 8192), "")
		if err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), o.FileDir) {
			t.Errorf("Set(%s) on a full disk: %v, want an error about space naming the file", k, err)
		}
	}
	if after := snapshot(t, o.FileDir); !sameSnapshot(before, after) {
		t.Errorf("failed writes changed the directory:\nbefore %q\nafter  %q", before, after)
	}
	if got, err := mustOpenFile(t, o).Get(bg(), "kept"); err != nil || string(got) != "kept value" {
		t.Errorf("after failed writes: kept = %q, %v", got, err)
	}
	os.Remove(filepath.Join(mnt, "filler"))
	if err := b.Set(bg(), "new", []byte("fits now"), ""); err != nil {
		t.Errorf("Set after freeing space: %v", err)
	}

	// A new store on a full disk: an error, and no half-made header.
	o2 := o
	o2.FileDir = filepath.Join(mnt, "second")
	filler, _ = os.Create(filepath.Join(mnt, "filler"))
	for {
		if _, err := filler.Write(make([]byte, 1024)); err != nil {
			break
		}
	}
	filler.Close()
	if _, err := openFile(t, o2); err == nil {
		t.Error("a store was made on a full disk")
	}
	if _, err := os.Stat(filepath.Join(o2.FileDir, "header")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed create left a header (%v)", err)
	}
	os.Remove(filepath.Join(mnt, "filler"))
	mustOpenFile(t, o2)
}

func TestFileKeyCacheExpires(t *testing.T) {
	o := fileOptions(t)
	// The kernel counts whole seconds: a 2 s timeout ends 1 to 2 s later.
	o.FileKeyCacheTTL = 2 * time.Second
	mustOpenFile(t, o)
	desc, err := store.FileCacheDesc(o.FileDir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", desc, 0)
	if err != nil {
		t.Fatalf("no key cached: %v", err)
	}
	// An expired key stays in the user keyring until the kernel collects
	// it, minutes later: take it out now.
	t.Cleanup(func() { unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0) })
	t.Setenv(store.EnvFilePassphrase, "")
	mustOpenFile(t, o)
	time.Sleep(2500 * time.Millisecond)
	if _, err := openFile(t, o); err == nil || !strings.Contains(err.Error(), "no passphrase") {
		t.Errorf("after the timeout: %v, want the cached key gone", err)
	}
}
