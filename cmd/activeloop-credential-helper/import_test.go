package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/helper"
	"github.com/activeloopai/activeloop-credential-helper/internal/activeloop/activeloopfake"
	"github.com/activeloopai/activeloop-credential-helper/store"
)

// importFake is a map-backed store whose writes and reads can go wrong.
type importFake struct {
	recs    map[string]store.Record
	putErr  error
	readErr error  // returned by Get after a Put
	mangle  bool   // Get after a Put returns another secret
	onPut   func() // runs during Put
	puts    int
}

func (f *importFake) Get(_ context.Context, key string) (store.Record, error) {
	if f.puts > 0 && f.readErr != nil {
		return store.Record{}, f.readErr
	}
	r, ok := f.recs[key]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	if f.puts > 0 && f.mangle {
		r.Secret = append([]byte(nil), r.Secret[:len(r.Secret)-1]...)
	}
	return r, nil
}

func (f *importFake) Put(_ context.Context, key string, r store.Record) error {
	if f.onPut != nil {
		f.onPut()
	}
	if f.putErr != nil {
		return f.putErr
	}
	f.puts++
	f.recs[key] = r
	return nil
}

func legacyFile(t *testing.T, content string) string {
	t.Helper()
	path := helper.LegacyTokenPath(t.TempDir())
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportMovesTheToken(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	exp := now.Add(48 * time.Hour)
	tok := activeloopfake.Token("alice", exp)
	path := legacyFile(t, tok)
	srv, _ := helper.ParseServer(helper.DefaultServer)
	st := &importFake{recs: map[string]store.Record{}}

	res, err := importToken(context.Background(), st, srv, path, now, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.removed || res.username != "alice" {
		t.Errorf("result = %+v; want alice, file removed", res)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the plaintext file is still there: %v", err)
	}
	want := store.Record{
		ServerURL: "https://app.activeloop.ai", Username: "alice", Secret: []byte(tok),
		Obtained: now, Source: "import", Expires: exp,
	}
	got := st.recs["https://app.activeloop.ai"]
	if got.ServerURL != want.ServerURL || got.Username != want.Username || string(got.Secret) != tok ||
		!got.Obtained.Equal(now) || got.Source != want.Source || !got.Expires.Equal(exp) {
		t.Errorf("stored %+v, want %+v", got, want)
	}
}

// Whatever goes wrong before the stored copy is verified, the plaintext file
// stays where it was.
func TestImportKeepsTheFileUnlessVerified(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := activeloopfake.Token("alice", now.Add(time.Hour))
	srv, _ := helper.ParseServer(helper.DefaultServer)
	tests := []struct {
		name  string
		fake  func(path string) *importFake
		force bool
		msg   string
	}{
		{
			name: "write fails",
			fake: func(string) *importFake { return &importFake{putErr: errors.New("the keyring is locked")} },
			msg:  "the keyring is locked",
		},
		{
			name: "reads back different",
			fake: func(string) *importFake { return &importFake{mangle: true} },
			msg:  "does not read back equal",
		},
		{
			name: "read back fails",
			fake: func(string) *importFake { return &importFake{readErr: errors.New("timeout")} },
			msg:  "reading the stored copy back failed",
		},
		{
			name: "file changes meanwhile",
			fake: func(path string) *importFake {
				return &importFake{onPut: func() { os.WriteFile(path, []byte("a-newer-token"), 0o644) }}
			},
			msg: "changed while it was imported",
		},
		{
			name: "another login stored",
			fake: func(string) *importFake {
				return &importFake{recs: map[string]store.Record{
					"https://app.activeloop.ai": {Username: "bob", Secret: []byte("bobs-token")},
				}}
			},
			msg: "a different login for https://app.activeloop.ai is already stored (bob)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := legacyFile(t, tok)
			st := tt.fake(path)
			if st.recs == nil {
				st.recs = map[string]store.Record{}
			}
			_, err := importToken(context.Background(), st, srv, path, now, tt.force, true)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want one saying %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), tok) {
				t.Errorf("the error holds the token: %v", err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("the plaintext file is gone: %v", err)
			}
		})
	}
}

func TestImportRefusesUnusableTokens(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	srv, _ := helper.ParseServer(helper.DefaultServer)
	for content, msg := range map[string]string{
		"":          "is empty",
		"  \n":      "is empty",
		"two words": "contains a space",
		"PUBLIC_TOKEN_" + strings.Repeat("_", 150):  "anonymous public token",
		activeloopfake.Token("public", time.Time{}): "anonymous public token",
		activeloopfake.Token("alice", now):          "expired at 2030-01-01 00:00 UTC",
	} {
		path := legacyFile(t, content)
		st := &importFake{recs: map[string]store.Record{}}
		_, err := importToken(context.Background(), st, srv, path, now, true, true)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("file %.30q: error %v, want one saying %q", content, err, msg)
		}
		if st.puts != 0 {
			t.Errorf("file %.30q: stored it", content)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("file %.30q: removed it", content)
		}
	}
	_, err := importToken(context.Background(), &importFake{}, srv, filepath.Join(t.TempDir(), "absent"), now, false, false)
	if err == nil || !strings.Contains(err.Error(), "no plaintext token at") {
		t.Errorf("no file: %v", err)
	}
}
