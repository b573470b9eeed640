package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The decoders of the file backend's header and entries, fuzzed. Seeds are
// in testdata/fuzz: valid files made by this code, and cut, grown and
// corrupted ones.

// fuzzKeys are fixed keys, so that seeds sealed once stay valid.
func fuzzKeys(t testing.TB) *fileKeys {
	k, err := splitKeys(bytes.Repeat([]byte{0x5a}, fileKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fuzzEntryName is the file name the entry seeds were sealed under.
const fuzzEntryName = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func FuzzFileHeader(f *testing.F) {
	k := fuzzKeys(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseFileHeader(b)
		if err != nil {
			return
		}
		// A header that parses is canonical: it encodes to the same bytes.
		if got := h.marshal(); !bytes.Equal(got, b) {
			t.Fatalf("parse then marshal changed the header:\n in %x\nout %x", b, got)
		}
		if h.KDF.valid() != nil {
			t.Fatalf("parsed invalid KDF parameters %v", h.KDF)
		}
		// Checking a key against any parsed header must not panic.
		h.verify(k)
	})
}

func FuzzFileEntry(f *testing.F) {
	k := fuzzKeys(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		key, data, err := k.openEntry(fuzzEntryName, b)
		if err != nil {
			return
		}
		// What opens seals again to something that opens the same.
		again, err := k.sealEntry(fuzzEntryName, key, data)
		if err != nil {
			t.Fatal(err)
		}
		key2, data2, err := k.openEntry(fuzzEntryName, again)
		if err != nil || key2 != key || !bytes.Equal(data2, data) {
			t.Fatalf("round trip: %q %q %v, want %q %q", key2, data2, err, key, data)
		}
		// Under another name it does not open: entries cannot be swapped.
		if _, _, err := k.openEntry(fuzzEntryName[1:]+"0", b); err == nil {
			t.Fatal("an entry opened under another file's name")
		}
	})
}

func FuzzFileEntryRoundTrip(f *testing.F) {
	f.Add("https%3A%2F%2Fapp.activeloop.ai", []byte(`{"v":1,"server_url":"https://app.activeloop.ai"}`), uint16(3))
	f.Add("k", []byte{}, uint16(0))
	f.Add("", []byte{0, 1, 2, 255}, uint16(60))
	k := fuzzKeys(f)
	f.Fuzz(func(t *testing.T, key string, data []byte, flip uint16) {
		name := k.entryName(key)
		sealed, err := k.sealEntry(name, key, data)
		if err != nil {
			if len(key) > 0xffff {
				return
			}
			t.Fatal(err)
		}
		if len(sealed) != fileEntryOverhead+len(key)+len(data) {
			t.Fatalf("sealed %d bytes, want %d", len(sealed), fileEntryOverhead+len(key)+len(data))
		}
		gotKey, gotData, err := k.openEntry(name, sealed)
		if err != nil || gotKey != key || !bytes.Equal(gotData, data) {
			t.Fatalf("round trip: %q %q %v", gotKey, gotData, err)
		}
		// Any one flipped bit is caught.
		bad := bytes.Clone(sealed)
		bad[int(flip)%len(bad)] ^= 1 << (flip % 8)
		if _, _, err := k.openEntry(name, bad); err == nil {
			t.Fatalf("an entry with bit %d of byte %d flipped opened", flip%8, int(flip)%len(bad))
		}
	})
}

// TestFileFuzzSeedsAreValid checks that the committed seeds still include a
// header and an entry that decode, so the fuzzers start from real files.
func TestFileFuzzSeedsAreValid(t *testing.T) {
	h, err := parseFileHeader(fuzzSeedHeader(t))
	if err != nil {
		t.Fatalf("header seed: %v", err)
	}
	if !h.verify(mustSplit(t, h)) {
		t.Error("header seed: the fuzz passphrase does not open it")
	}
	key, data, err := fuzzKeys(t).openEntry(fuzzEntryName, fuzzSeedEntry(t))
	if err != nil || key != "https%3A%2F%2Fapp.activeloop.ai" || len(data) == 0 {
		t.Errorf("entry seed: %q %q %v", key, data, err)
	}
}

// fuzzPassphrase made the header seed, with the cheapest KDF parameters.
const fuzzPassphrase = "fuzz"

func mustSplit(t *testing.T, h *fileHeader) *fileKeys {
	k, err := splitKeys(deriveMaster([]byte(fuzzPassphrase), h))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func fuzzSeedHeader(t *testing.T) []byte { return readSeed(t, "FuzzFileHeader", "valid") }
func fuzzSeedEntry(t *testing.T) []byte  { return readSeed(t, "FuzzFileEntry", "valid") }

// readSeed reads a one-value []byte seed of the fuzz corpus format.
func readSeed(t *testing.T, fuzzer, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", fuzzer, name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s/%s: not a one-value corpus file", fuzzer, name)
	}
	lit, ok := strings.CutPrefix(lines[1], "[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")")
	s, err := strconv.Unquote(lit)
	if !ok || !ok2 || err != nil {
		t.Fatalf("%s/%s: %q is not a []byte literal", fuzzer, name, lines[1])
	}
	return []byte(s)
}
