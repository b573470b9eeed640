package helper

import (
	"slices"
	"strings"
	"testing"
)

func TestParseServer(t *testing.T) {
	tests := []struct {
		in, origin, path string
	}{
		{"app.activeloop.ai", "https://app.activeloop.ai", ""},
		{"https://app.activeloop.ai/", "https://app.activeloop.ai", ""},
		{"HTTPS://APP.activeloop.AI:443/api/x", "https://app.activeloop.ai", "/api/x"},
		{"https://app.activeloop.ai//api//", "https://app.activeloop.ai", "//api"},
		{"hub://org/dataset", DefaultServer, ""},
		{"al://org/dataset", DefaultServer, ""},
		{"HUB://Org/DS", DefaultServer, ""},
		{"http://localhost:7777", "http://localhost:7777", ""},
		{"http://Example.com:80/v2/", "http://example.com", "/v2"},
		{"127.0.0.1:5000", "https://127.0.0.1:5000", ""},
		{"localhost:5000/v2/", "https://localhost:5000", "/v2"},
		{"[::1]:5000", "https://[::1]:5000", ""},
		{"https://[::1]", "https://[::1]", ""},
		{"https://user:pw@host.example/x?q=1#frag", "https://host.example", "/x"},
		{"https://index.docker.io/v1/", "https://index.docker.io", "/v1"},
		{"https://index.docker.io/v1/access-token", "https://index.docker.io", "/v1/access-token"},
		{"https://host.example/Case/Kept", "https://host.example", "/Case/Kept"},
		{"https://host.example/a%2Fb", "https://host.example", "/a%2Fb"},
		{"https://host.example:", "https://host.example", ""},
		{"https://пример.example/юникод", "https://пример.example", "/%D1%8E%D0%BD%D0%B8%D0%BA%D0%BE%D0%B4"},
	}
	for _, tt := range tests {
		s, err := ParseServer(tt.in)
		if err != nil {
			t.Errorf("ParseServer(%q): %v", tt.in, err)
			continue
		}
		if s.Origin != tt.origin || s.Path != tt.path {
			t.Errorf("ParseServer(%q) = %q %q, want %q %q", tt.in, s.Origin, s.Path, tt.origin, tt.path)
		}
	}
}

func TestParseServerRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"https://host\n.example",
		"https://host.example/\x00",
		"https://host.example/a b",
		"https://host.example/\x7f",
		"\thost.example",
		"https://",
		"https:///path",
		"://host",
		"1http://host",
		"https://host:port",
		"https://host.example/" + strings.Repeat("a", maxServerLen),
	} {
		if s, err := ParseServer(in); err == nil {
			t.Errorf("ParseServer(%q) = %+v, want an error", in, s)
		}
	}
}

// A login stored under the default server must be found from every spelling
// of it, and from none of the look-alikes.
func TestLookupsMatchOnlyTheSameOrigin(t *testing.T) {
	stored := mustParse(t, "https://app.activeloop.ai").Key()
	for _, asked := range []string{
		"app.activeloop.ai",
		"https://app.activeloop.ai",
		"https://app.activeloop.ai/",
		"https://APP.activeloop.ai:443/api/x",
		"hub://org/ds",
		"https://app.activeloop.ai/api/user/token?x=1",
		"https://someone@app.activeloop.ai/",
	} {
		if !slices.Contains(mustParse(t, asked).Lookups(), stored) {
			t.Errorf("%q does not find the login stored under https://app.activeloop.ai", asked)
		}
	}
	for _, asked := range []string{
		"app.activeloop.ai.evil.example",
		"evil.example/app.activeloop.ai",
		"https://evil.example/https://app.activeloop.ai",
		"https://app.activeloop.ai@evil.example",
		"https://app.activeloop.ai:443@evil.example/",
		"https://app.activeloop.ai:8443",
		"http://app.activeloop.ai",
		"app.activeloop.aix",
		"xapp.activeloop.ai",
		"activeloop.ai",
		"https://app-activeloop.ai",
		"https://app.activeloop.ai.",
		"ftp://app.activeloop.ai",
		"https://app.activeloop.ai%2eevil.example",
	} {
		s, err := ParseServer(asked)
		if err != nil {
			continue // rejected outright is fine too
		}
		if slices.Contains(s.Lookups(), stored) {
			t.Errorf("%q wrongly finds the login stored under https://app.activeloop.ai (lookups %q)", asked, s.Lookups())
		}
	}
}

func TestLookupsBySegment(t *testing.T) {
	got := mustParse(t, "https://h.example/v1/repo/x/").Lookups()
	want := []string{"https://h.example/v1/repo/x", "https://h.example/v1/repo", "https://h.example/v1", "https://h.example"}
	if !slices.Equal(got, want) {
		t.Fatalf("Lookups = %q, want %q", got, want)
	}
	if slices.Contains(mustParse(t, "https://h.example/v10").Lookups(), "https://h.example/v1") {
		t.Fatal("/v10 must not match /v1: prefixes are whole segments")
	}
}

func mustParse(t *testing.T, s string) Server {
	t.Helper()
	srv, err := ParseServer(s)
	if err != nil {
		t.Fatalf("ParseServer(%q): %v", s, err)
	}
	return srv
}

func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"app.activeloop.ai", "https://APP.activeloop.ai:443/api/x", "hub://org/ds", "[::1]:5000", "https://u:p@h/x?q#f", "http://h:80//a//", "https://h/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseServer(raw)
		if err != nil {
			return
		}
		// The key is a fixed point: parsing it again gives the same entry.
		again, err := ParseServer(s.Key())
		if err != nil {
			t.Fatalf("ParseServer(%q) ok, but its key %q does not parse: %v", raw, s.Key(), err)
		}
		if again != s {
			t.Fatalf("ParseServer(%q) = %+v, but its key parses to %+v", raw, s, again)
		}
		if strings.ContainsAny(s.Origin[strings.Index(s.Origin, "://")+3:], "@/?#") {
			t.Fatalf("origin %q of %q holds userinfo, path, query or fragment", s.Origin, raw)
		}
		for _, k := range s.Lookups() {
			if k != s.Origin && !strings.HasPrefix(k, s.Origin+"/") {
				t.Fatalf("lookup %q of %q leaves origin %q", k, raw, s.Origin)
			}
		}
	})
}
