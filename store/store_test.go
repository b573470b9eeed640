package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// stuck is a backend whose every call blocks, like a locked keyring waiting
// for a prompt nobody will answer.
type stuck struct{ Memory }

func (s *stuck) Name() string { return "stuck" }
func (s *stuck) Get(ctx context.Context, key string) ([]byte, error) {
	select {} // ignores ctx, as some libraries do
}

func TestStoreCallsHaveADeadline(t *testing.T) {
	s := New(&stuck{Memory: *NewMemory()}, 50*time.Millisecond)
	start := time.Now()
	_, err := s.Get(context.Background(), "k")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "did not read within 50ms") {
		t.Fatalf("Get on a stuck backend: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Get took %s", d)
	}
}

// counting records how many backend calls a Lookup makes.
type counting struct {
	*Memory
	gets, keys int
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, error) {
	c.gets++
	return c.Memory.Get(ctx, key)
}

func (c *counting) Keys(ctx context.Context) ([]string, error) {
	c.keys++
	return c.Memory.Keys(ctx)
}

func TestLookupCost(t *testing.T) {
	b := &counting{Memory: NewMemory()}
	s := New(b, time.Second)
	ctx := context.Background()
	if err := s.Put(ctx, "o/a", Record{ServerURL: "o/a", Username: "u"}); err != nil {
		t.Fatal(err)
	}
	// Exact hit: one read.
	if r, err := s.Lookup(ctx, []string{"o/a", "o"}); err != nil || r.ServerURL != "o/a" {
		t.Fatalf("Lookup exact = %+v, %v", r, err)
	}
	if b.gets != 1 || b.keys != 0 {
		t.Fatalf("exact hit cost %d gets, %d lists; want 1, 0", b.gets, b.keys)
	}
	// A deep miss: one read, one list, one read — not one per segment.
	b.gets, b.keys = 0, 0
	deep := []string{"o/a/1/2/3/4/5/6", "o/a/1/2/3/4/5", "o/a/1/2/3/4", "o/a/1/2/3", "o/a/1/2", "o/a/1", "o/a", "o"}
	if r, err := s.Lookup(ctx, deep); err != nil || r.ServerURL != "o/a" {
		t.Fatalf("Lookup deep = %+v, %v", r, err)
	}
	if b.gets != 2 || b.keys != 1 {
		t.Fatalf("deep lookup cost %d gets, %d lists; want 2, 1", b.gets, b.keys)
	}
	if _, err := s.Lookup(ctx, []string{"p/x", "p"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup of another origin: %v", err)
	}
}

func TestListReportsCorruptItemsAndKeepsTheRest(t *testing.T) {
	m := NewMemory()
	s := New(m, time.Second)
	ctx := context.Background()
	s.Put(ctx, "good", Record{ServerURL: "good", Username: "u"})
	m.Set(ctx, "bad", []byte("not json"), "")
	recs, err := s.List(ctx)
	if len(recs) != 1 || recs[0].ServerURL != "good" {
		t.Fatalf("List = %+v", recs)
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "item bad") {
		t.Fatalf("List error = %v, want one naming the corrupt item", err)
	}
}

func TestPutRefusesWhatTheBackendCannotHold(t *testing.T) {
	s := New(limited{NewMemory()}, time.Second)
	err := s.Put(context.Background(), "k", Record{ServerURL: "k", Username: "u", Secret: make([]byte, 4096)})
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("Put of an oversized record: %v", err)
	}
}

type limited struct{ *Memory }

func (limited) MaxData() int { return 2560 }
