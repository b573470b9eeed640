package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// envOf returns an env lookup over m, standing in for os.LookupEnv.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeConfig writes content to a fresh file and returns its path.
func writeConfig(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credential-helper.toml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// isolate points the user config directory at an empty directory, so that no
// real config file is read, and returns the default path Load will use.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir) // Linux and the other Unixes
	t.Setenv("HOME", dir)            // macOS
	t.Setenv("AppData", dir)         // Windows
	t.Setenv("home", dir)            // Plan 9
	ucd, err := os.UserConfigDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(ucd, "activeloop", "credential-helper.toml")
}

func TestDefaults(t *testing.T) {
	path := isolate(t)
	c, err := Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Server:          "https://app.activeloop.ai",
		Backend:         "auto",
		Timeout:         store.DefaultTimeout,
		APITimeout:      30 * time.Second,
		WarnBefore:      72 * time.Hour,
		FileKeyCacheTTL: 15 * time.Minute,
		Path:            path,
	}
	if *c != want {
		t.Errorf("Load() = %+v, want %+v", *c, want)
	}
	for _, k := range Keys() {
		if s := c.Source(k); s.Origin != FromDefault || s.String() != "default" {
			t.Errorf("Source(%q) = %+v (%s), want default", k, s, s)
		}
	}
	if got := c.StoreOptions(); got != (store.Options{FileKeyCacheTTL: DefaultFileKeyCacheTTL}) {
		t.Errorf("StoreOptions() = %+v, want every backend default", got)
	}
}

func TestDefaultPath(t *testing.T) {
	path := isolate(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("backend = \"file\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || !c.Found || c.Explicit {
		t.Errorf("Path, Found, Explicit = %q, %v, %v; want %q, true, false", c.Path, c.Found, c.Explicit, path)
	}
	if c.Backend != "file" {
		t.Errorf("Backend = %q, want file", c.Backend)
	}
}

const fullFile = `# every setting
server = "https://app.example.com"
backend = "pass"
timeout = "30s"
api_timeout = "1m"
warn_before = "24h"
pass_dir = "/srv/pass"
pass_prefix = "ci"
secret_service_collection = "work"
kwallet_wallet = "wallet"
kwallet_folder = "folder"
keychain_name = "ci.keychain"
keyctl_scope = "session"
file_dir = "/srv/creds"
file_passphrase_file = "/run/secrets/passphrase"
file_key_cache_ttl = "0s"
`

func TestLoad(t *testing.T) {
	isolate(t)
	full := Config{
		Server:                  "https://app.example.com",
		Backend:                 "pass",
		Timeout:                 30 * time.Second,
		APITimeout:              time.Minute,
		WarnBefore:              24 * time.Hour,
		PassDir:                 "/srv/pass",
		PassPrefix:              "ci",
		SecretServiceCollection: "work",
		KWalletWallet:           "wallet",
		KWalletFolder:           "folder",
		KeychainName:            "ci.keychain",
		KeyctlScope:             "session",
		FileDir:                 "/srv/creds",
		FilePassphraseFile:      "/run/secrets/passphrase",
		FileKeyCacheTTL:         0,
	}
	tests := []struct {
		name   string
		file   string // written and named by EnvConfig unless empty
		env    map[string]string
		want   func(c *Config) // edits full or the defaults into the expected value
		from   Config          // start of the expected value
		source map[string]string
	}{
		{
			name: "file only",
			file: fullFile,
			from: full,
			source: map[string]string{
				"server":             "FILE",
				"file_key_cache_ttl": "FILE",
			},
		},
		{
			name: "env beats file",
			file: fullFile,
			env: map[string]string{
				"ACTIVELOOP_CREDENTIAL_BACKEND":              "file",
				"ACTIVELOOP_CREDENTIAL_TIMEOUT":              "1m",
				"ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE_FILE": "/elsewhere",
				"ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL":   "1h",
			},
			from: full,
			want: func(c *Config) {
				c.Backend = "file"
				c.Timeout = time.Minute
				c.FilePassphraseFile = "/elsewhere"
				c.FileKeyCacheTTL = time.Hour
			},
			source: map[string]string{
				"server":               "FILE",
				"backend":              "ACTIVELOOP_CREDENTIAL_BACKEND",
				"timeout":              "ACTIVELOOP_CREDENTIAL_TIMEOUT",
				"file_passphrase_file": "ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE_FILE",
				"keyctl_scope":         "FILE",
			},
		},
		{
			name: "env only",
			env: map[string]string{
				"ACTIVELOOP_CREDENTIAL_SERVER":       "http://localhost:8080",
				"ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE": "session",
				"ACTIVELOOP_CREDENTIAL_WARN_BEFORE":  "0",
			},
			want: func(c *Config) {
				c.Server = "http://localhost:8080"
				c.KeyctlScope = "session"
				c.WarnBefore = 0
			},
			source: map[string]string{
				"server":       "ACTIVELOOP_CREDENTIAL_SERVER",
				"keyctl_scope": "ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE",
				"warn_before":  "ACTIVELOOP_CREDENTIAL_WARN_BEFORE",
				"backend":      "default",
			},
		},
		{
			name: "empty env ignored",
			file: "backend = \"kwallet\"\n",
			env: map[string]string{
				"ACTIVELOOP_CREDENTIAL_BACKEND":  "",
				"ACTIVELOOP_CREDENTIAL_TIMEOUT":  "",
				"ACTIVELOOP_CREDENTIAL_PASS_DIR": "",
			},
			want: func(c *Config) { c.Backend = "kwallet" },
			source: map[string]string{
				"backend":  "FILE",
				"timeout":  "default",
				"pass_dir": "default",
			},
		},
		{
			name: "empty file values mean the default",
			file: "server = \"\"\nbackend = \"\"\npass_dir = \"\"\n",
			source: map[string]string{
				"server":  "default",
				"backend": "default",
			},
		},
		{
			name: "empty file",
			file: "\n# nothing set\n",
		},
		{
			name: "every backend name",
			file: "backend = \"secret-service\"\n",
			want: func(c *Config) { c.Backend = "secret-service" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			var path string
			if tt.file != "" {
				path = writeConfig(t, tt.file)
				env[EnvConfig] = path
			}
			got, err := Load(envOf(env))
			if err != nil {
				t.Fatal(err)
			}

			want := tt.from
			if want == (Config{}) {
				want = *defaults()
			}
			if tt.want != nil {
				tt.want(&want)
			}
			for _, k := range Keys() {
				if g, w := got.Value(k), (&want).Value(k); g != w {
					t.Errorf("%s = %q, want %q", k, g, w)
				}
			}
			if tt.file != "" && (got.Path != path || !got.Found || !got.Explicit) {
				t.Errorf("Path, Found, Explicit = %q, %v, %v; want %q, true, true", got.Path, got.Found, got.Explicit, path)
			}
			for k, w := range tt.source {
				if w == "FILE" {
					w = path
				}
				if g := got.Source(k).String(); g != w {
					t.Errorf("Source(%q) = %q, want %q", k, g, w)
				}
			}
		})
	}
}

func TestStoreOptions(t *testing.T) {
	isolate(t)
	c, err := Load(envOf(map[string]string{EnvConfig: writeConfig(t, fullFile)}))
	if err != nil {
		t.Fatal(err)
	}
	want := store.Options{
		PassDir:                 "/srv/pass",
		PassPrefix:              "ci",
		SecretServiceCollection: "work",
		KWalletWallet:           "wallet",
		KWalletFolder:           "folder",
		KeychainName:            "ci.keychain",
		KeyctlScope:             "session",
		FileDir:                 "/srv/creds",
		FilePassphraseFile:      "/run/secrets/passphrase",
	}
	if got := c.StoreOptions(); got != want {
		t.Errorf("StoreOptions() = %+v, want %+v", got, want)
	}
}

func TestFileErrors(t *testing.T) {
	isolate(t)
	tests := []struct {
		name string
		file string
		line int
		key  string
		msg  string // after "config PATH:LINE: "
	}{
		{
			name: "syntax, unterminated string",
			file: "server = \"https://app.activeloop.ai\"\n\ntimeout = \"5s\n",
			line: 3, key: "timeout",
			msg: "timeout: strings cannot contain newlines",
		},
		{
			name: "syntax, no value",
			file: "backend = \"pass\"\n# a comment\ngarbage\n",
			line: 3,
			msg:  `expected '.' or '=', but got '\n' instead`,
		},
		{
			name: "syntax, duplicate key",
			file: "backend = \"pass\"\npass_dir = \"/p\"\nbackend = \"file\"\n",
			line: 3, key: "backend",
			msg: "backend: key 'backend' has already been defined",
		},
		{
			name: "unknown key",
			file: "# settings\nserver = \"https://app.activeloop.ai\"\ntimout = \"5s\"\n",
			line: 3, key: "timout",
			msg: "timout: unknown setting (did you mean timeout?)",
		},
		{
			name: "unknown key, no suggestion",
			file: "backend = \"pass\"\n\n\ncolour = \"blue\"\n",
			line: 4, key: "colour",
			msg: "colour: unknown setting",
		},
		{
			name: "key in the wrong case",
			file: "Backend = \"pass\"\n",
			line: 1, key: "Backend",
			msg: "Backend: unknown setting (did you mean backend?)",
		},
		{
			name: "setting in a table",
			file: "backend = \"pass\"\n\n[pass]\ndir = \"/srv/pass\"\n",
			line: 4, key: "pass.dir",
			msg: "pass.dir: unknown setting (did you mean pass_dir?)",
		},
		{
			name: "dotted key",
			file: "backend = \"pass\"\npass.prefix = \"ci\"\n",
			line: 2, key: "pass.prefix",
			msg: "pass.prefix: unknown setting (did you mean pass_prefix?)",
		},
		{
			name: "empty table",
			file: "backend = \"pass\"\n[extra]\n",
			line: 2, key: "extra",
			msg: "extra: unknown setting",
		},
		{
			name: "array of tables",
			file: "\n[[servers]]\nurl = \"x\"\n",
			line: 2, key: "servers",
			msg: "servers: unknown setting (did you mean server?)",
		},
		{
			name: "number for a duration",
			file: "server = \"https://app.activeloop.ai\"\ntimeout = 5\n",
			line: 2, key: "timeout",
			msg: `timeout: expected a string such as "5s", found an integer`,
		},
		{
			name: "boolean for a path",
			file: "\n\npass_dir = true\n",
			line: 3, key: "pass_dir",
			msg: "pass_dir: expected a string, found a boolean",
		},
		{
			name: "array for a backend",
			file: "backend = [\"pass\", \"file\"]\n",
			line: 1, key: "backend",
			msg: `backend: expected a string such as "pass", found an array`,
		},
		{
			name: "float for a duration",
			file: "warn_before = 1.5\n",
			line: 1, key: "warn_before",
			msg: `warn_before: expected a string such as "72h", found a float`,
		},
		{
			name: "date for a string",
			file: "kwallet_wallet = 2024-01-01\n",
			line: 1, key: "kwallet_wallet",
			msg: "kwallet_wallet: expected a string, found a date or time",
		},
		{
			name: "table for a string",
			file: "keychain_name = \"x\"\n[server]\nurl = \"https://app.activeloop.ai\"\n",
			line: 2, key: "server",
			msg: `server: expected a string such as "https://app.activeloop.ai", found a table`,
		},
		{
			name: "dotted key under a setting",
			file: "\nserver.url = \"https://app.activeloop.ai\"\n",
			line: 2, key: "server",
			msg: `server: expected a string such as "https://app.activeloop.ai", found a table`,
		},
		{
			name: "timeout not a duration",
			file: "backend = \"pass\"\ntimeout = \"abc\"\n",
			line: 2, key: "timeout",
			msg: `timeout: "abc" is not a duration (e.g. "5s")`,
		},
		{
			name: "timeout zero",
			file: "timeout = \"0s\"\n",
			line: 1, key: "timeout",
			msg: `timeout: "0s" must be more than 0`,
		},
		{
			name: "timeout too long",
			file: "timeout = \"11m\"\n",
			line: 1, key: "timeout",
			msg: `timeout: "11m" is more than the maximum, 10m`,
		},
		{
			name: "negative warn_before",
			file: "# warn early\n\nwarn_before = \"-1h\"\n",
			line: 3, key: "warn_before",
			msg: `warn_before: "-1h" must not be negative`,
		},
		{
			name: "negative file_key_cache_ttl",
			file: "file_key_cache_ttl = \"-1s\"\n",
			line: 1, key: "file_key_cache_ttl",
			msg: `file_key_cache_ttl: "-1s" must not be negative`,
		},
		{
			name: "unknown backend",
			file: "server = \"https://app.activeloop.ai\"\ntimeout = \"5s\"\nbackend = \"nope\"\n",
			line: 3, key: "backend",
			msg: `backend: "nope" is not a backend: choose one of auto, keychain, wincred, secret-service, kwallet, pass, keyctl, file`,
		},
		{
			name: "unknown keyctl scope",
			file: "backend = \"keyctl\"\nkeyctl_scope = \"x\"\n",
			line: 2, key: "keyctl_scope",
			msg: `keyctl_scope: "x" is not a keyctl scope: choose one of user, session`,
		},
		{
			name: "server without a scheme",
			file: "server = \"app.activeloop.ai\"\n",
			line: 1, key: "server",
			msg: `server: "app.activeloop.ai" is not an http or https URL (e.g. "https://app.activeloop.ai")`,
		},
		{
			name: "server with a password",
			file: "server = \"https://me:hunter2@app.activeloop.ai\"\n",
			line: 1, key: "server",
			msg: "server: the URL must not contain a user name or password",
		},
		{
			name: "first bad line wins",
			file: "pass_dir = \"/p\"\ntimeout = \"abc\"\nbackend = \"nope\"\ncolour = 1\n",
			line: 2, key: "timeout",
			msg: `timeout: "abc" is not a duration (e.g. "5s")`,
		},
		{
			name: "multi-line array",
			file: "pass_dir = \"/p\"\nbackend = [\n  \"pass\",\n]\n",
			line: 2, key: "backend",
			msg: `backend: expected a string such as "pass", found an array`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			c, err := Load(envOf(map[string]string{EnvConfig: path}))
			if err == nil {
				t.Fatalf("Load() = %+v, want an error", c)
			}
			if c != nil {
				t.Errorf("Load() returned a config with its error")
			}
			want := "config " + path + ":" + strconv.Itoa(tt.line) + ": " + tt.msg
			if err.Error() != want {
				t.Errorf("error\n got %s\nwant %s", err, want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if e.Source.Origin != FromFile || e.Source.Name != path || e.Source.Line != tt.line || e.Key != tt.key {
				t.Errorf("Error = {%+v %q}, want file %s line %d key %q", e.Source, e.Key, path, tt.line, tt.key)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	isolate(t)
	tests := []struct {
		name, env, value, want string
	}{
		{"timeout", "ACTIVELOOP_CREDENTIAL_TIMEOUT", "abc", `ACTIVELOOP_CREDENTIAL_TIMEOUT: "abc" is not a duration (e.g. "5s")`},
		{"timeout too long", "ACTIVELOOP_CREDENTIAL_TIMEOUT", "1h", `ACTIVELOOP_CREDENTIAL_TIMEOUT: "1h" is more than the maximum, 10m`},
		{"backend", "ACTIVELOOP_CREDENTIAL_BACKEND", "nope", `ACTIVELOOP_CREDENTIAL_BACKEND: "nope" is not a backend: choose one of auto, keychain, wincred, secret-service, kwallet, pass, keyctl, file`},
		{"keyctl scope", "ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE", "x", `ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE: "x" is not a keyctl scope: choose one of user, session`},
		{"warn_before", "ACTIVELOOP_CREDENTIAL_WARN_BEFORE", "-5m", `ACTIVELOOP_CREDENTIAL_WARN_BEFORE: "-5m" must not be negative`},
		{"file_key_cache_ttl", "ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL", "soon", `ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL: "soon" is not a duration (e.g. "5s")`},
		{"server", "ACTIVELOOP_CREDENTIAL_SERVER", "ftp://x", `ACTIVELOOP_CREDENTIAL_SERVER: "ftp://x" is not an http or https URL (e.g. "https://app.activeloop.ai")`},
		{"whitespace is not empty", "ACTIVELOOP_CREDENTIAL_BACKEND", " ", `ACTIVELOOP_CREDENTIAL_BACKEND: " " is not a backend: choose one of auto, keychain, wincred, secret-service, kwallet, pass, keyctl, file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The file is valid: the variable is what is wrong.
			path := writeConfig(t, "backend = \"file\"\ntimeout = \"5s\"\n")
			_, err := Load(envOf(map[string]string{EnvConfig: path, tt.env: tt.value}))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v, want %s", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Source.Origin != FromEnv || e.Source.Name != tt.env {
				t.Errorf("error = %#v, want an *Error from %s", err, tt.env)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	t.Run("named by the variable", func(t *testing.T) {
		isolate(t)
		path := filepath.Join(t.TempDir(), "nope.toml")
		_, err := Load(envOf(map[string]string{EnvConfig: path}))
		want := "config " + path + ": file does not exist (named by ACTIVELOOP_CREDENTIAL_HELPER_CONFIG)"
		if err == nil || err.Error() != want {
			t.Fatalf("error = %v, want %s", err, want)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
		}
	})
	t.Run("at the default path", func(t *testing.T) {
		path := isolate(t)
		c, err := Load(envOf(map[string]string{EnvConfig: ""}))
		if err != nil {
			t.Fatal(err)
		}
		if c.Path != path || c.Found || c.Explicit {
			t.Errorf("Path, Found, Explicit = %q, %v, %v; want %q, false, false", c.Path, c.Found, c.Explicit, path)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		isolate(t)
		dir := t.TempDir() // a directory cannot be read as a file
		_, err := Load(envOf(map[string]string{EnvConfig: dir}))
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "config "+dir+": ") {
			t.Fatalf("error = %v, want one naming %s", err, dir)
		}
	})
}

func TestSet(t *testing.T) {
	isolate(t)
	path := writeConfig(t, "backend = \"pass\"\ntimeout = \"10s\"\n")
	c, err := Load(envOf(map[string]string{EnvConfig: path, "ACTIVELOOP_CREDENTIAL_BACKEND": "file"}))
	if err != nil {
		t.Fatal(err)
	}
	flag := Source{Origin: FromFlag, Name: "--backend"}
	if err := c.Set("backend", "keyctl", flag); err != nil {
		t.Fatal(err)
	}
	if c.Backend != "keyctl" || c.Source("backend") != flag || c.Source("backend").String() != "--backend" {
		t.Errorf("after Set: backend %q from %v, want keyctl from --backend", c.Backend, c.Source("backend"))
	}
	if err := c.Set("backend", "", flag); err != nil || c.Backend != "keyctl" {
		t.Errorf("Set with an empty value: %v, backend %q; want no change", err, c.Backend)
	}
	err = c.Set("timeout", "forever", Source{Origin: FromFlag, Name: "--timeout"})
	if want := `--timeout: "forever" is not a duration (e.g. "5s")`; err == nil || err.Error() != want {
		t.Errorf("Set(timeout, forever) = %v, want %s", err, want)
	}
	if c.Timeout != 10*time.Second || c.Source("timeout").String() != path {
		t.Errorf("a failed Set changed timeout to %v from %v", c.Timeout, c.Source("timeout"))
	}
	if err := c.Set("colour", "blue", flag); err == nil {
		t.Error("Set(colour) succeeded, want an error")
	}
}

func TestValue(t *testing.T) {
	c := defaults()
	for k, want := range map[string]string{
		"server":             "https://app.activeloop.ai",
		"backend":            "auto",
		"timeout":            "5s",
		"api_timeout":        "30s",
		"warn_before":        "72h",
		"file_key_cache_ttl": "15m",
		"pass_dir":           "",
		"nope":               "",
	} {
		if got := c.Value(k); got != want {
			t.Errorf("Value(%q) = %q, want %q", k, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		0: "0s", 90 * time.Minute: "1h30m", time.Hour + time.Second: "1h0m1s", 1500 * time.Millisecond: "1.5s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestEnvNames(t *testing.T) {
	for _, k := range Keys() {
		if got, want := EnvName(k), EnvPrefix+strings.ToUpper(k); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", k, got, want)
		}
	}
	if len(Keys()) != numSettings {
		t.Errorf("Keys() has %d settings, want %d", len(Keys()), numSettings)
	}
	if EnvName("nope") != "" {
		t.Error(`EnvName("nope") != ""`)
	}
}

// Every backend the store knows can be chosen.
func TestBackendNames(t *testing.T) {
	for _, n := range append([]string{"auto"}, store.Names...) {
		var got string
		if err := parseBackend(&got, n); err != nil || got != n {
			t.Errorf("parseBackend(%q) = %q, %v", n, got, err)
		}
	}
}

// FuzzParse checks that any file either loads or fails with an *Error naming
// the file, and that a loaded config written back out loads the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullFile))
	f.Add([]byte("timeout = 5\n"))
	f.Add([]byte("[pass]\ndir = \"x\"\n"))
	f.Add([]byte("server.x = 1\nbackend = \"nope\"\n"))
	f.Add([]byte("a = \"\"\"\nb\"\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := defaults()
		c.Path = "f.toml"
		err := c.parse(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Source.Origin != FromFile || e.Source.Name != "f.toml" {
				t.Fatalf("error %v does not name the file", err)
			}
			if !strings.HasPrefix(err.Error(), "config f.toml") {
				t.Fatalf("error %q does not start with the file", err)
			}
			return
		}
		out := map[string]string{}
		for _, k := range Keys() {
			if v := c.Value(k); v != "" {
				out[k] = v
			}
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(out); err != nil {
			t.Fatal(err)
		}
		c2 := defaults()
		c2.Path = "f.toml"
		if err := c2.parse(buf.Bytes()); err != nil {
			t.Fatalf("config written back does not load: %v\n%s", err, buf.Bytes())
		}
		for _, k := range Keys() {
			if c.Value(k) != c2.Value(k) {
				t.Fatalf("%s: %q became %q", k, c.Value(k), c2.Value(k))
			}
		}
	})
}

// typicalFile is what a configured machine might hold.
const typicalFile = `# activeloop-credential-helper
server = "https://app.activeloop.ai"
backend = "pass"
timeout = "10s"
warn_before = "48h"
pass_dir = "/home/u/.password-store"
pass_prefix = "activeloop"
`

// BenchmarkLoad measures the work added to every exec'd get.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	b.Setenv("XDG_CONFIG_HOME", dir)
	b.Setenv("HOME", dir)
	b.Setenv("AppData", dir)
	env := map[string]string{"ACTIVELOOP_CREDENTIAL_TIMEOUT": "5s"}
	b.Run("no-file", func(b *testing.B) {
		lookup := envOf(env)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Load(lookup); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("file", func(b *testing.B) {
		withFile := map[string]string{EnvConfig: writeConfig(b, typicalFile)}
		for k, v := range env {
			withFile[k] = v
		}
		lookup := envOf(withFile)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Load(lookup); err != nil {
				b.Fatal(err)
			}
		}
	})
}
