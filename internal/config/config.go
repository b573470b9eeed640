// Package config reads the helper's settings (SPEC §10): one flat TOML file,
// $ACTIVELOOP_CREDENTIAL_HELPER_CONFIG or
// <user config dir>/activeloop/credential-helper.toml, and an environment
// variable twin for every setting, ACTIVELOOP_CREDENTIAL_<SETTING>.
//
// Flags beat the environment, which beats the file, which beats the defaults.
// Load applies the file and then the environment; the command line applies its
// flags on top with Set. Every setting remembers where its value came from so
// that status and doctor can say so.
//
// The helper is exec'd for every git or docker request, so Load reads the file
// once and does nothing else: no stat before the read, no directory walks, no
// parsing of anything it does not need.
//
// An empty value, in the file or the environment, means the default. An invalid
// file is an error naming the file, the line and the setting; an invalid
// environment variable is an error naming the variable. Nothing read here is
// secret: the file backend's passphrase never comes from this file, only the
// path of a file that holds it.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/activeloopai/activeloop-credential-helper/store"
)

// EnvConfig names the environment variable that overrides the file's path. A
// file it names must exist.
const EnvConfig = "ACTIVELOOP_CREDENTIAL_HELPER_CONFIG"

// EnvPrefix starts the name of every setting's environment variable twin.
const EnvPrefix = "ACTIVELOOP_CREDENTIAL_"

// Defaults of the settings that have one of their own. The other settings are
// empty by default, which lets the backend pick its own default.
const (
	DefaultServer          = "https://app.activeloop.ai"
	DefaultBackend         = "auto"
	DefaultWarnBefore      = 72 * time.Hour
	DefaultAPITimeout      = 30 * time.Second
	DefaultFileKeyCacheTTL = 15 * time.Minute

	// MaxTimeout caps the per-call backend timeout: beyond it a locked keyring
	// would look like a hang to git or docker.
	MaxTimeout = 10 * time.Minute
)

// Config holds every setting. Its fields are plain values; use Set, not
// assignment, to apply a flag so that Source stays right.
type Config struct {
	Server                  string        // Activeloop server URL
	Backend                 string        // auto or one of store.Names
	Timeout                 time.Duration // deadline of every backend call
	APITimeout              time.Duration // deadline of every call to the Activeloop API, retries included
	WarnBefore              time.Duration // warn this long before a token expires
	PassDir                 string
	PassPrefix              string
	SecretServiceCollection string
	KWalletWallet           string
	KWalletFolder           string
	KeychainName            string
	KeyctlScope             string // user or session
	FileDir                 string
	FilePassphraseFile      string        // path of a file holding the file backend's passphrase
	FileKeyCacheTTL         time.Duration // how long the file backend may cache its derived key

	// Path is the config file in effect; empty when neither EnvConfig nor the
	// user config directory gives one (for example when $HOME is unset).
	Path string
	// Explicit reports that Path came from EnvConfig.
	Explicit bool
	// Found reports that Path existed and was read.
	Found bool

	sources [numSettings]Source
}

// Origin is the kind of place a setting's value came from.
type Origin int

// Origins, from weakest to strongest.
const (
	FromDefault Origin = iota
	FromFile
	FromEnv
	FromFlag
)

// Source says where a setting's value came from.
type Source struct {
	Origin Origin
	Name   string // the file's path, the variable's name or the flag ("--backend"); empty for a default
	Line   int    // line in the file, when known
}

// String is "default", the file's path (with ":line" when known), or the name
// of the variable or flag.
func (s Source) String() string {
	switch {
	case s.Origin == FromDefault:
		return "default"
	case s.Line > 0:
		return fmt.Sprintf("%s:%d", s.Name, s.Line)
	default:
		return s.Name
	}
}

// Error is an invalid setting, or a config file that cannot be read or parsed.
type Error struct {
	Source Source // where the bad value is
	Key    string // the setting, when known
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Source.Origin == FromFile {
		b.WriteString("config ")
		b.WriteString(e.Source.String())
		if e.Key != "" {
			b.WriteString(": ")
			b.WriteString(e.Key)
		}
	} else {
		// The variable or flag already names the setting.
		b.WriteString(e.Source.Name)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// The settings, in the order Keys lists them.
const (
	sServer = iota
	sBackend
	sTimeout
	sAPITimeout
	sWarnBefore
	sPassDir
	sPassPrefix
	sSecretServiceCollection
	sKWalletWallet
	sKWalletFolder
	sKeychainName
	sKeyctlScope
	sFileDir
	sFilePassphraseFile
	sFileKeyCacheTTL
	numSettings
)

type setting struct {
	key     string
	env     string
	example string // shown when the file holds a value of the wrong type
	set     func(c *Config, v string) error
	get     func(c *Config) string
}

var settings = [numSettings]setting{
	sServer: {
		key: "server", env: "ACTIVELOOP_CREDENTIAL_SERVER", example: DefaultServer,
		set: func(c *Config, v string) error { return parseServer(&c.Server, v) },
		get: func(c *Config) string { return c.Server },
	},
	sBackend: {
		key: "backend", env: "ACTIVELOOP_CREDENTIAL_BACKEND", example: "pass",
		set: func(c *Config, v string) error { return parseBackend(&c.Backend, v) },
		get: func(c *Config) string { return c.Backend },
	},
	sTimeout: {
		key: "timeout", env: "ACTIVELOOP_CREDENTIAL_TIMEOUT", example: "5s",
		set: func(c *Config, v string) error { return parseDuration(&c.Timeout, v, time.Nanosecond, MaxTimeout) },
		get: func(c *Config) string { return formatDuration(c.Timeout) },
	},
	sAPITimeout: {
		key: "api_timeout", env: "ACTIVELOOP_CREDENTIAL_API_TIMEOUT", example: "30s",
		set: func(c *Config, v string) error { return parseDuration(&c.APITimeout, v, time.Nanosecond, MaxTimeout) },
		get: func(c *Config) string { return formatDuration(c.APITimeout) },
	},
	sWarnBefore: {
		key: "warn_before", env: "ACTIVELOOP_CREDENTIAL_WARN_BEFORE", example: "72h",
		set: func(c *Config, v string) error { return parseDuration(&c.WarnBefore, v, 0, 0) },
		get: func(c *Config) string { return formatDuration(c.WarnBefore) },
	},
	sPassDir: {
		key: "pass_dir", env: "ACTIVELOOP_CREDENTIAL_PASS_DIR",
		set: func(c *Config, v string) error { c.PassDir = v; return nil },
		get: func(c *Config) string { return c.PassDir },
	},
	sPassPrefix: {
		key: "pass_prefix", env: "ACTIVELOOP_CREDENTIAL_PASS_PREFIX",
		set: func(c *Config, v string) error { c.PassPrefix = v; return nil },
		get: func(c *Config) string { return c.PassPrefix },
	},
	sSecretServiceCollection: {
		key: "secret_service_collection", env: "ACTIVELOOP_CREDENTIAL_SECRET_SERVICE_COLLECTION",
		set: func(c *Config, v string) error { c.SecretServiceCollection = v; return nil },
		get: func(c *Config) string { return c.SecretServiceCollection },
	},
	sKWalletWallet: {
		key: "kwallet_wallet", env: "ACTIVELOOP_CREDENTIAL_KWALLET_WALLET",
		set: func(c *Config, v string) error { c.KWalletWallet = v; return nil },
		get: func(c *Config) string { return c.KWalletWallet },
	},
	sKWalletFolder: {
		key: "kwallet_folder", env: "ACTIVELOOP_CREDENTIAL_KWALLET_FOLDER",
		set: func(c *Config, v string) error { c.KWalletFolder = v; return nil },
		get: func(c *Config) string { return c.KWalletFolder },
	},
	sKeychainName: {
		key: "keychain_name", env: "ACTIVELOOP_CREDENTIAL_KEYCHAIN_NAME",
		set: func(c *Config, v string) error { c.KeychainName = v; return nil },
		get: func(c *Config) string { return c.KeychainName },
	},
	sKeyctlScope: {
		key: "keyctl_scope", env: "ACTIVELOOP_CREDENTIAL_KEYCTL_SCOPE", example: "user",
		set: func(c *Config, v string) error { return parseKeyctlScope(&c.KeyctlScope, v) },
		get: func(c *Config) string { return c.KeyctlScope },
	},
	sFileDir: {
		key: "file_dir", env: "ACTIVELOOP_CREDENTIAL_FILE_DIR",
		set: func(c *Config, v string) error { c.FileDir = v; return nil },
		get: func(c *Config) string { return c.FileDir },
	},
	sFilePassphraseFile: {
		key: "file_passphrase_file", env: "ACTIVELOOP_CREDENTIAL_FILE_PASSPHRASE_FILE",
		set: func(c *Config, v string) error { c.FilePassphraseFile = v; return nil },
		get: func(c *Config) string { return c.FilePassphraseFile },
	},
	sFileKeyCacheTTL: {
		key: "file_key_cache_ttl", env: "ACTIVELOOP_CREDENTIAL_FILE_KEY_CACHE_TTL", example: "15m",
		set: func(c *Config, v string) error { return parseDuration(&c.FileKeyCacheTTL, v, 0, 0) },
		get: func(c *Config) string { return formatDuration(c.FileKeyCacheTTL) },
	},
}

// KeyctlScopes are the values keyctl_scope accepts.
var KeyctlScopes = []string{"user", "session"} // a Go process moves between threads, whose process and thread keyrings differ

// Keys lists every setting's name, in the order status shows them.
func Keys() []string {
	keys := make([]string, len(settings))
	for i := range settings {
		keys[i] = settings[i].key
	}
	return keys
}

// EnvName returns the environment variable twin of the setting key, or "" if
// there is no such setting.
func EnvName(key string) string {
	if i := index(key); i >= 0 {
		return settings[i].env
	}
	return ""
}

func index(key string) int {
	for i := range settings {
		if settings[i].key == key {
			return i
		}
	}
	return -1
}

func defaults() *Config {
	return &Config{
		Server:          DefaultServer,
		Backend:         DefaultBackend,
		Timeout:         store.DefaultTimeout,
		APITimeout:      DefaultAPITimeout,
		WarnBefore:      DefaultWarnBefore,
		FileKeyCacheTTL: DefaultFileKeyCacheTTL,
	}
}

// Load reads the config file and then the environment through env (production
// passes os.LookupEnv). An empty variable counts as unset. A missing file is
// fine at the default path and an error when EnvConfig names it.
func Load(env func(string) (string, bool)) (*Config, error) {
	c := defaults()
	if p, ok := lookup(env, EnvConfig); ok {
		c.Path, c.Explicit = p, true
	} else if dir, err := os.UserConfigDir(); err == nil {
		// Without a user config dir there is no default file, which is
		// no different from a default file that does not exist.
		c.Path = filepath.Join(dir, "activeloop", "credential-helper.toml")
	}
	if c.Path != "" {
		data, err := os.ReadFile(c.Path)
		switch {
		case err == nil:
			c.Found = true
			if err := c.parse(data); err != nil {
				return nil, err
			}
		case errors.Is(err, fs.ErrNotExist) && !c.Explicit:
		case errors.Is(err, fs.ErrNotExist):
			return nil, c.fileError(0, "", fmt.Errorf("%w (named by %s)", fs.ErrNotExist, EnvConfig))
		default:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is already in the message
			}
			return nil, c.fileError(0, "", err)
		}
	}
	for i := range settings {
		s := &settings[i]
		v, ok := lookup(env, s.env)
		if !ok {
			continue
		}
		src := Source{Origin: FromEnv, Name: s.env}
		if err := s.set(c, v); err != nil {
			return nil, &Error{Source: src, Key: s.key, Err: err}
		}
		c.sources[i] = src
	}
	return c, nil
}

func lookup(env func(string) (string, bool), name string) (string, bool) {
	v, ok := env(name)
	return v, ok && v != ""
}

// Set validates value as the setting key and records src as its source; the
// command line applies its flags with it, as Source{Origin: FromFlag, Name:
// "--backend"}. An empty value leaves the setting as it is.
func (c *Config) Set(key, value string, src Source) error {
	i := index(key)
	if i < 0 {
		return fmt.Errorf("unknown setting %q", key)
	}
	if value == "" {
		return nil
	}
	if err := settings[i].set(c, value); err != nil {
		return &Error{Source: src, Key: key, Err: err}
	}
	c.sources[i] = src
	return nil
}

// Value returns the setting key's value as the file would spell it, or "" for
// an unknown key or an empty setting.
func (c *Config) Value(key string) string {
	if i := index(key); i >= 0 {
		return settings[i].get(c)
	}
	return ""
}

// Source says where the setting key's value came from.
func (c *Config) Source(key string) Source {
	if i := index(key); i >= 0 {
		return c.sources[i]
	}
	return Source{}
}

// StoreOptions returns the per-backend settings in the form the store takes.
func (c *Config) StoreOptions() store.Options {
	return store.Options{
		PassDir:                 c.PassDir,
		PassPrefix:              c.PassPrefix,
		SecretServiceCollection: c.SecretServiceCollection,
		KWalletWallet:           c.KWalletWallet,
		KWalletFolder:           c.KWalletFolder,
		KeychainName:            c.KeychainName,
		KeyctlScope:             c.KeyctlScope,
		FileDir:                 c.FileDir,
		FilePassphraseFile:      c.FilePassphraseFile,
		FileKeyCacheTTL:         c.FileKeyCacheTTL,
	}
}

// parse applies the file's settings. The file is flat: every key is a
// setting and every value a string. Keys are checked in file order, so the
// error is about the first bad line.
func (c *Config) parse(data []byte) error {
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return c.fileError(pe.Position.Line, pe.LastKey, errors.New(tidy(pe.Message)))
		}
		return c.fileError(0, "", err)
	}
	keys := md.Keys()
	for n, k := range keys {
		i := -1
		if len(k) == 1 {
			i = index(k[0])
		}
		if i < 0 {
			if j := index(k[0]); j >= 0 {
				// server.x = "…" makes server a table.
				return c.fileError(keyLine(&md, top, k), k[0], errors.New(wrongType(&settings[j], "a table")))
			}
			if md.Type(k...) == "Hash" && n+1 < len(keys) && extends(keys[n+1], k) {
				continue // name the first setting inside the table instead
			}
			return c.fileError(keyLine(&md, top, k), k.String(), errors.New(unknown(k)))
		}
		s := &settings[i]
		var raw any
		if err := md.PrimitiveDecode(top[k[0]], &raw); err != nil {
			return c.fileError(keyLine(&md, top, k), s.key, err)
		}
		v, ok := raw.(string)
		if !ok {
			return c.fileError(keyLine(&md, top, k), s.key, errors.New(wrongType(s, typeName(raw))))
		}
		if v == "" {
			continue
		}
		if err := s.set(c, v); err != nil {
			return c.fileError(keyLine(&md, top, k), s.key, err)
		}
		c.sources[i] = Source{Origin: FromFile, Name: c.Path}
	}
	return nil
}

func (c *Config) fileError(line int, key string, err error) error {
	return &Error{Source: Source{Origin: FromFile, Name: c.Path, Line: line}, Key: key, Err: err}
}

// errLine makes the TOML decoder report where a key is: it wraps an
// Unmarshaler's error in a ParseError positioned at the key being decoded.
var errLine = errors.New("line probe")

type lineProbe struct{}

func (lineProbe) UnmarshalTOML(any) error { return errLine }

// keyLine returns the line of key k, or 0 if the decoder does not know it. It
// runs only on the way to an error: the decoder keeps positions but offers no
// other way to read them. For a multi-line string the decoder records the line
// where the value ends.
func keyLine(md *toml.MetaData, top map[string]toml.Primitive, k toml.Key) int {
	p, ok := top[k[0]]
	if !ok {
		return 0
	}
	for _, part := range k[1:] {
		var m map[string]toml.Primitive
		if md.PrimitiveDecode(p, &m) != nil {
			return 0
		}
		if p, ok = m[part]; !ok {
			return 0
		}
	}
	var pe toml.ParseError
	if errors.As(md.PrimitiveDecode(p, &lineProbe{}), &pe) {
		return pe.Position.Line
	}
	return 0
}

func extends(k, prefix toml.Key) bool {
	if len(k) <= len(prefix) {
		return false
	}
	for i := range prefix {
		if k[i] != prefix[i] {
			return false
		}
	}
	return true
}

func wrongType(s *setting, found string) string {
	if s.example == "" {
		return "expected a string, found " + found
	}
	return fmt.Sprintf("expected a string such as %q, found %s", s.example, found)
}

func typeName(v any) string {
	switch v.(type) {
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date or time"
	}
}

// unknown explains an unknown key, suggesting the setting it was probably
// meant to be: a misspelling, or a table where the settings are flat
// ([pass] dir = … for pass_dir = …).
func unknown(k toml.Key) string {
	flat := strings.ToLower(strings.Join(k, "_"))
	best, bestDist := "", 3
	for i := range settings {
		if d := distance(flat, settings[i].key); d < bestDist {
			best, bestDist = settings[i].key, d
		}
	}
	if best == "" {
		return "unknown setting"
	}
	return fmt.Sprintf("unknown setting (did you mean %s?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// tidy makes the TOML decoder's messages read like ours: lowercase, no
// trailing period.
func tidy(msg string) string {
	msg = strings.TrimSuffix(msg, ".")
	if len(msg) > 1 && msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a' && msg[1] <= 'z' {
		msg = string(msg[0]+'a'-'A') + msg[1:]
	}
	return msg
}

func parseServer(dst *string, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http or https URL (e.g. %q)", v, DefaultServer)
	}
	if u.User != nil {
		// Not echoed: it may hold a password.
		return errors.New("the URL must not contain a user name or password")
	}
	*dst = v
	return nil
}

func parseBackend(dst *string, v string) error {
	if v == "auto" || slices.Contains(store.Names, v) {
		*dst = v
		return nil
	}
	return fmt.Errorf("%q is not a backend: choose one of auto, %s", v, strings.Join(store.Names, ", "))
}

func parseKeyctlScope(dst *string, v string) error {
	if slices.Contains(KeyctlScopes, v) {
		*dst = v
		return nil
	}
	return fmt.Errorf("%q is not a keyctl scope: choose one of %s", v, strings.Join(KeyctlScopes, ", "))
}

// parseDuration accepts a Go duration of at least lo and, if hi > 0, at most hi.
func parseDuration(dst *time.Duration, v string, lo, hi time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. \"5s\")", v)
	}
	switch {
	case d < 0:
		return fmt.Errorf("%q must not be negative", v)
	case d < lo:
		return fmt.Errorf("%q must be more than 0", v)
	case hi > 0 && d > hi:
		return fmt.Errorf("%q is more than the maximum, %s", v, formatDuration(hi))
	}
	*dst = d
	return nil
}

// formatDuration spells d as a person would: 72h, not 72h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
