//go:build !windows

package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
	"github.com/activeloopai/activeloop-credential-helper/store"
	"github.com/activeloopai/activeloop-credential-helper/store/storetest"
)

func openKeyringBackend(t testing.TB, name string, o store.Options) store.Backend {
	t.Helper()
	b, err := store.Open(context.Background(), name, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	return b
}

// passForeigner adds items as another program using the same password
// store would: outside the helper's prefix.
type passForeigner struct{ store.Backend }

func (passForeigner) AddForeignItem(t *testing.T, name string, data []byte) {
	passInsert(t, "other-app/"+name, data)
}

// passInsert stores data under name with pass itself.
func passInsert(t testing.TB, name string, data []byte) {
	t.Helper()
	cmd := exec.Command("pass", "insert", "--multiline", "--force", name)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pass insert %s: %v\n%s", name, err, out)
	}
}

func TestPassBackend(t *testing.T) {
	o := testenv.Pass(t)
	storetest.Run(t, func(t *testing.T) store.Backend {
		return passForeigner{openKeyringBackend(t, "pass", o)}
	})
}

func TestPassKeysListsOnlyItemsOfTheHelper(t *testing.T) {
	o := testenv.Pass(t)
	b := openKeyringBackend(t, "pass", o)
	ctx := context.Background()
	if err := b.Set(ctx, "ours", []byte("x"), "label"); err != nil {
		t.Fatal(err)
	}
	// Nothing EscapeKey makes: a subdirectory, a dot file, a file pass
	// does not show, and an item outside the prefix.
	passInsert(t, store.Namespace+"/sub/nested", []byte("n"))
	passInsert(t, store.Namespace+"/.hidden", []byte("h"))
	passInsert(t, "other-app/ours", []byte("o"))
	if err := os.WriteFile(filepath.Join(o.PassDir, store.Namespace, "notes.txt"), []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := b.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"ours"}) {
		t.Fatalf("Keys = %q, want [ours]", keys)
	}
}

func TestPassForeignItemErrorHidesItsContent(t *testing.T) {
	o := testenv.Pass(t)
	b := openKeyringBackend(t, "pass", o)
	// An item the user wrote with pass: not the library's JSON. The JSON
	// decoder's own message would quote it.
	const content = "31415926535"
	passInsert(t, store.Namespace+"/by-hand", []byte(content))
	_, err := b.Get(context.Background(), "by-hand")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of an item in another format: %v, want an error", err)
	}
	if strings.Contains(err.Error(), content[:4]) {
		t.Fatalf("error quotes the item: %v", err)
	}
}

func TestPassSecretOnlyOnStdin(t *testing.T) {
	// A stand-in for pass that records its arguments and its stdin.
	bin, logs := t.TempDir(), t.TempDir()
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >>" + logs + "/argv\ncat >>" + logs + "/stdin\n"
	if err := os.WriteFile(filepath.Join(bin, "pass"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(filepath.ListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".gpg-id"), []byte("ci@example.invalid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := openKeyringBackend(t, "pass", store.Options{PassDir: dir})

	secret := []byte("s3cret-token-value")
	if err := b.Set(context.Background(), "k", secret, "label"); err != nil {
		t.Fatal(err)
	}
	argv, _ := os.ReadFile(filepath.Join(logs, "argv"))
	stdin, _ := os.ReadFile(filepath.Join(logs, "stdin"))
	encoded := base64.StdEncoding.EncodeToString(secret)
	if !bytes.Contains(argv, []byte("insert")) || bytes.Contains(argv, secret) || bytes.Contains(argv, []byte(encoded)) {
		t.Fatalf("pass argv = %q", argv)
	}
	if !bytes.Contains(stdin, []byte(encoded)) {
		t.Fatalf("pass stdin = %q, want the item", stdin)
	}
}

func TestPassUninitialisedStore(t *testing.T) {
	_, err := store.Open(context.Background(), "pass", store.Options{PassDir: t.TempDir()})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "pass init") {
		t.Fatalf("Open of an uninitialised store: %v, want ErrUnavailable naming pass init", err)
	}
}

func TestPassNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := store.Open(context.Background(), "pass", store.Options{PassDir: t.TempDir()})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "pass program is not on PATH") {
		t.Fatalf("Open without pass: %v, want ErrUnavailable saying pass is missing", err)
	}
}

func TestPassWithoutGPG(t *testing.T) {
	pass, err := exec.LookPath("pass")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(pass, filepath.Join(bin, "pass")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	_, err = store.Open(context.Background(), "pass", store.Options{PassDir: t.TempDir()})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "install GnuPG") {
		t.Fatalf("Open without gpg: %v, want ErrUnavailable saying gpg is missing", err)
	}
}

func TestPassBadPrefix(t *testing.T) {
	for _, prefix := range []string{"../elsewhere", "/abs", "a/../../b"} {
		if _, err := store.Open(context.Background(), "pass", store.Options{PassPrefix: prefix}); err == nil {
			t.Errorf("Open with prefix %q succeeded", prefix)
		}
	}
}

func TestPassHungAgentMeetsTheDeadline(t *testing.T) {
	o := testenv.Pass(t)
	const timeout = time.Second
	s := store.New(openKeyringBackend(t, "pass", o), timeout)
	ctx := context.Background()
	r := store.Record{ServerURL: "https://app.activeloop.ai", Username: "ci", Secret: []byte("tok")}
	if err := s.Put(ctx, r.ServerURL, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, r.ServerURL); err != nil {
		t.Fatal(err)
	}

	testenv.HangGPGAgent(t)
	start := time.Now()
	_, err := s.Get(ctx, r.ServerURL)
	took := time.Since(start)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get with a hung gpg-agent: %v after %s, want ErrUnavailable", err, took)
	}
	if took < timeout || took > timeout+2*time.Second {
		t.Fatalf("Get with a hung gpg-agent returned after %s, want the %s deadline", took, timeout)
	}
}

func BenchmarkPassGet(b *testing.B) {
	o := testenv.Pass(b)
	be := openKeyringBackend(b, "pass", o)
	ctx := context.Background()
	if err := be.Set(ctx, "bench", []byte(`{"v":1}`), "bench"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := be.Get(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPassDirectReadMatchesPass(t *testing.T) {
	o := testenv.Pass(t)
	b := openKeyringBackend(t, "pass", o)
	ctx := context.Background()
	// Every byte value, newlines at both ends and inside, and no trailing
	// newline: what a shell pipeline would mangle.
	data := []byte("\n\nline one\r\nline two\n")
	for i := 0; i < 256; i++ {
		data = append(data, byte(i))
	}
	data = append(data, "\x00tail"...)
	// Written by the library, with `pass insert`.
	if err := b.Set(ctx, "binary", data, "label"); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "binary")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, want %q", got, data)
	}
	// And what `pass show` prints is what gpg gave us.
	show, err := exec.Command("pass", "show", store.Namespace+"/binary").Output()
	if err != nil {
		t.Fatal(err)
	}
	var item struct{ Data []byte }
	if err := json.Unmarshal(show, &item); err != nil || !bytes.Equal(item.Data, data) {
		t.Fatalf("pass show: %q, %v; want the item", item.Data, err)
	}
	// Written with pass by hand, in the library's format.
	raw, _ := json.Marshal(map[string]any{"Key": "by-pass", "Data": data, "Label": "x"})
	passInsert(t, store.Namespace+"/by-pass", raw)
	if got, err := b.Get(ctx, "by-pass"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get of an item written with pass insert = %q, %v", got, err)
	}
}

// fakeGPG puts gpg and gpg2 on a PATH of their own that record their argv
// in the returned file and fail.
func fakeGPG(t *testing.T) (argv string) {
	bin := t.TempDir()
	argv = filepath.Join(t.TempDir(), "argv")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >>" + argv + "\necho 'gpg: decryption failed: No secret key' >&2\nexit 2\n"
	for _, name := range []string{"gpg", "gpg2"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	return argv
}

func TestPassMissingItemRunsNoGPG(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".gpg-id"), []byte("ci@example.invalid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := openKeyringBackend(t, "pass", store.Options{PassDir: dir})
	argv := fakeGPG(t)
	if _, err := b.Get(context.Background(), "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing item: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(argv); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("gpg ran for a missing item (%v)", err)
	}
}

func TestPassReadRunsGPGAsPassDoes(t *testing.T) {
	dir := t.TempDir()
	items := filepath.Join(dir, store.Namespace)
	if err := os.MkdirAll(items, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{".gpg-id": "ci@example.invalid\n", store.Namespace + "/k.gpg": "not really encrypted"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := openKeyringBackend(t, "pass", store.Options{PassDir: dir})
	argv := fakeGPG(t)
	t.Setenv("PASSWORD_STORE_GPG_OPTS", "--homedir /elsewhere  --no-tty")
	_, err := b.Get(context.Background(), "k")
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "No secret key") {
		t.Fatalf("Get with a failing gpg: %v, want ErrUnavailable with gpg's message", err)
	}
	got, _ := os.ReadFile(argv)
	want := "--decrypt --homedir /elsewhere --no-tty --quiet --yes --batch -- " + filepath.Join(items, "k.gpg") + "\n"
	if string(got) != want {
		t.Fatalf("gpg argv = %q, want %q", got, want)
	}

	// No gpg at all: unavailable, not missing.
	t.Setenv("PATH", t.TempDir())
	if _, err := b.Get(context.Background(), "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get without gpg: %v, want ErrUnavailable", err)
	}
}
