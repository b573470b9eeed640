// Package storetest is the behaviour suite every store.Backend must pass, run
// against in-memory fakes in unit tests and against every real secure store in
// integration tests.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// Run runs the suite. open returns the backend under test, empty of this
// helper's items; it is called once per subtest. Subtests are sequential:
// several real stores are single shared daemons.
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, b store.Backend)
	}{
		{"MissingKey", testMissingKey},
		{"SetGetDelete", testSetGetDelete},
		{"Replace", testReplace},
		{"DeleteMissing", testDeleteMissing},
		{"BinaryAndLargeData", testBinaryAndLargeData},
		{"EscapedKeys", testEscapedKeys},
		{"KeysListsOnlyOurs", testKeysListsOnlyOurs},
		{"ThroughStore", testThroughStore},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := open(t)
			t.Cleanup(func() { wipe(t, b) })
			c.fn(t, b)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func wipe(t *testing.T, b store.Backend) {
	keys, err := b.Keys(ctx(t))
	if err != nil {
		t.Errorf("cleanup: Keys: %v", err)
		return
	}
	for _, k := range keys {
		if err := b.Delete(ctx(t), k); err != nil {
			t.Errorf("cleanup: Delete(%q): %v", k, err)
		}
	}
}

func mustSet(t *testing.T, b store.Backend, key string, data []byte) {
	t.Helper()
	if err := b.Set(ctx(t), key, data, "test item "+key); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, b store.Backend, key string, want []byte) {
	t.Helper()
	got, err := b.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func mustNotFind(t *testing.T, b store.Backend, key string) {
	t.Helper()
	got, err := b.Get(ctx(t), key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

func keys(t *testing.T, b store.Backend) []string {
	t.Helper()
	k, err := b.Keys(ctx(t))
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	slices.Sort(k)
	return k
}

func testMissingKey(t *testing.T, b store.Backend) {
	mustNotFind(t, b, "never-stored")
	if k := keys(t, b); len(k) != 0 {
		t.Fatalf("Keys of an empty store = %q", k)
	}
}

func testSetGetDelete(t *testing.T, b store.Backend) {
	mustSet(t, b, "alpha", []byte(`{"v":1}`))
	mustGet(t, b, "alpha", []byte(`{"v":1}`))
	if k := keys(t, b); !slices.Equal(k, []string{"alpha"}) {
		t.Fatalf("Keys = %q, want [alpha]", k)
	}
	if err := b.Delete(ctx(t), "alpha"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustNotFind(t, b, "alpha")
	if k := keys(t, b); len(k) != 0 {
		t.Fatalf("Keys after Delete = %q", k)
	}
}

func testReplace(t *testing.T, b store.Backend) {
	mustSet(t, b, "k", []byte("first"))
	mustSet(t, b, "k", []byte("second value, longer than the first"))
	mustGet(t, b, "k", []byte("second value, longer than the first"))
	mustSet(t, b, "k", []byte("3"))
	mustGet(t, b, "k", []byte("3"))
	if k := keys(t, b); !slices.Equal(k, []string{"k"}) {
		t.Fatalf("Keys after replacing = %q, want one key", k)
	}
}

func testDeleteMissing(t *testing.T, b store.Backend) {
	if err := b.Delete(ctx(t), "absent"); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	// Through Store, which is what callers use, it must be nil on every backend.
	if err := store.New(b, 0).Delete(ctx(t), "absent"); err != nil {
		t.Fatalf("Store.Delete of a missing key: %v", err)
	}
}

func testBinaryAndLargeData(t *testing.T, b store.Backend) {
	max := store.DefaultMaxData
	if l, ok := b.(store.DataLimiter); ok {
		max = l.MaxData()
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	cases := map[string][]byte{
		"newline":  []byte("secret\n"),
		"crlf":     []byte("a\r\nb\r\n"),
		"spaces":   []byte("  padded  "),
		"quotes":   []byte(`"q" 'q' \ \\`),
		"unicode":  []byte("пароль 密码 🔑"),
		"allbytes": all,
		"large":    bytes.Repeat([]byte("0123456789abcdef"), min(max, 16<<10+512)/16),
	}
	for name, data := range cases {
		mustSet(t, b, name, data)
	}
	for name, data := range cases {
		mustGet(t, b, name, data)
	}
}

func testEscapedKeys(t *testing.T, b store.Backend) {
	// What store.EscapeKey makes of hostile server URLs.
	raw := []string{
		"https://app.activeloop.ai",
		"https://app.activeloop.ai/api/x",
		"../../etc/passwd",
		"..%2F..",
		"hub://org/ds",
		"user/with/slashes@host",
		"юникод.example",
		strings.Repeat("very-long-path/", 40),
	}
	var want []string
	for i, r := range raw {
		k := store.EscapeKey(r)
		want = append(want, k)
		mustSet(t, b, k, fmt.Appendf(nil, "value %d", i))
	}
	for i, k := range want {
		mustGet(t, b, k, fmt.Appendf(nil, "value %d", i))
	}
	slices.Sort(want)
	if k := keys(t, b); !slices.Equal(k, want) {
		t.Fatalf("Keys = %q\nwant %q", k, want)
	}
}

func testKeysListsOnlyOurs(t *testing.T, b store.Backend) {
	if f, ok := b.(Foreigner); ok {
		f.AddForeignItem(t, "someone-elses-item", []byte("not ours"))
	}
	mustSet(t, b, "ours", []byte("x"))
	if k := keys(t, b); !slices.Equal(k, []string{"ours"}) {
		t.Fatalf("Keys = %q, want only [ours]", k)
	}
	mustNotFind(t, b, "someone-elses-item")
}

// Foreigner is implemented by test wrappers around shared real stores: it
// writes an item as another application would, outside the helper's
// namespace, so the suite can check that Keys never lists it.
type Foreigner interface {
	AddForeignItem(t *testing.T, name string, data []byte)
}

func testThroughStore(t *testing.T, b store.Backend) {
	s := store.New(b, 10*time.Second)
	c := ctx(t)
	obtained := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	recs := []store.Record{
		{ServerURL: "https://app.activeloop.ai", Username: "alice", Secret: []byte("tok\n"), Obtained: obtained, Source: "docker"},
		{ServerURL: "127.0.0.1:5000", Username: "ci/bot", Secret: []byte(`{"json":"inside"}`), Source: "git", Expires: obtained.Add(time.Hour)},
		{ServerURL: "https://x.example/../", Username: "..", Secret: []byte("ü")},
	}
	for _, r := range recs {
		if err := s.Put(c, r.ServerURL, r); err != nil {
			t.Fatalf("Put(%q): %v", r.ServerURL, err)
		}
	}
	for _, r := range recs {
		got, err := s.Get(c, r.ServerURL)
		if err != nil {
			t.Fatalf("Get(%q): %v", r.ServerURL, err)
		}
		if !recordEqual(got, r) {
			t.Fatalf("Get(%q) = %+v, want %+v", r.ServerURL, got, r)
		}
	}
	list, err := s.List(c)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != len(recs) {
		t.Fatalf("List returned %d records, want %d", len(list), len(recs))
	}
	if err := s.Delete(c, recs[0].ServerURL); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(c, recs[0].ServerURL); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
}

func recordEqual(a, b store.Record) bool {
	return a.ServerURL == b.ServerURL && a.Username == b.Username && bytes.Equal(a.Secret, b.Secret) &&
		a.Obtained.Equal(b.Obtained) && a.Source == b.Source && a.Expires.Equal(b.Expires)
}
