package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/activeloopai/activeloop-credential-helper/helper"
	"github.com/activeloopai/activeloop-credential-helper/internal/config"
)

// setup configures docker or git, once, to ask this helper for the server's
// credentials: it installs the protocol's link to this binary and adds the
// helper to the client's configuration for the server, and with --undo
// removes exactly that again.

// helperName is what docker's credHelpers and git's credential.helper call
// this helper: they run docker-credential-activeloop and
// git-credential-activeloop.
const helperName = "activeloop"

func init() {
	commandGroups = append(commandGroups, setupCommands)
}

// setupOptions are the flags of setup and of its subcommands.
type setupOptions struct {
	undo, dryRun, force bool
	binDir, server      string
}

func setupFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "undo", Usage: "remove what setup adds, and nothing else"},
		&cli.BoolFlag{Name: "dry-run", Usage: "show the changes without making them"},
		&cli.StringFlag{Name: "bin-dir", Usage: "install the link in `DIR` (default: next to this binary)"},
		&cli.BoolFlag{Name: "force", Usage: "replace a link, or a docker credHelpers entry, that points elsewhere"},
		&cli.StringFlag{Name: "server", Usage: "the Deep Lake server `URL` to set up for (default: the global --server, then the config)"},
	}
}

// readSetupOptions reads the flags given to the subcommand or before it, to
// setup itself: `setup --undo docker` and `setup docker --undo` are one.
func readSetupOptions(c *cli.Context) setupOptions {
	var o setupOptions
	lineage := c.Lineage()
	if len(lineage) > 2 {
		lineage = lineage[:2] // the subcommand, then setup
	}
	for _, x := range lineage {
		o.undo = o.undo || x.Bool("undo")
		o.dryRun = o.dryRun || x.Bool("dry-run")
		o.force = o.force || x.Bool("force")
		if o.binDir == "" {
			o.binDir = x.String("bin-dir")
		}
		if o.server == "" {
			o.server = x.String("server")
		}
	}
	return o
}

func setupCommands(e *appEnv) []*cli.Command {
	run := func(what string, do func(*setup) error) cli.ActionFunc {
		return func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("setup %s takes no arguments", what)
			}
			s, err := newSetup(e, readSetupOptions(c))
			if err == nil {
				err = do(s)
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "%s: setup %s: %v\n", mainName, what, err)
				return exitError{1}
			}
			return nil
		}
	}
	return []*cli.Command{{
		Name:      "setup",
		Usage:     "configure docker or git, once, to get the server's credentials from this helper",
		Category:  "one-time setup",
		ArgsUsage: "docker|git",
		Description: "setup docker links " + dockerName + " to this binary and adds\n" +
			`credHelpers["<server host>"] = "` + helperName + `" to $DOCKER_CONFIG/config.json (default ~/.docker).` + "\n" +
			"setup git links " + gitName + " to this binary and sets\n" +
			"credential.<server URL>.helper = " + helperName + " in the global git config.\n" +
			"Run again, nothing changes; --undo removes what setup adds and nothing else.",
		Flags:           setupFlags(),
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:   "docker",
				Usage:  "link " + dockerName + " and add it to docker's config.json for the server",
				Flags:  setupFlags(),
				Action: run("docker", (*setup).docker),
			},
			{
				Name:   "git",
				Usage:  "link " + gitName + " and add it to the global git config for the server",
				Flags:  setupFlags(),
				Action: run("git", (*setup).git),
			},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("setup: unknown client %q: choose docker or git", c.Args().First())
			}
			return errors.New("setup needs what to set up: docker or git")
		},
	}}
}

// setup is one run of setup docker or setup git.
type setup struct {
	opts   setupOptions
	getenv env
	stdout io.Writer
	stderr io.Writer
	exe    string        // this binary, symbolic links resolved
	server helper.Server // the server to set up for
}

func newSetup(e *appEnv, o setupOptions) (*setup, error) {
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, value string }{{"--server", e.flags.Server}, {"setup --server", o.server}} {
		if err := cfg.Set("server", f.value, config.Source{Origin: config.FromFlag, Name: f.name}); err != nil {
			return nil, err
		}
	}
	srv, err := helper.ParseServer(cfg.Server)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot find this binary to link to: %w", err)
	}
	return &setup{opts: o, getenv: e.getenv, stdout: e.stdout, stderr: e.stderr, exe: exe, server: srv}, nil
}

func (s *setup) printf(format string, args ...any) { fmt.Fprintf(s.stdout, format, args...) }

// would prefixes what a dry run reports.
func (s *setup) would(done, planned string) string {
	if s.opts.dryRun {
		return "would " + planned
	}
	return done
}

// docker links docker-credential-activeloop and adds it to config.json for
// the server's host, the key docker looks up in credHelpers.
func (s *setup) docker() error {
	_, host, _ := strings.Cut(s.server.Origin, "://")
	file, err := dockerConfigFile(s.getenv)
	if err != nil {
		return err
	}
	c, err := s.planDockerConfig(file, host)
	if err != nil {
		return err
	}
	return s.run(c, dockerName, file+" still uses "+helperName+" for other registries")
}

// git links git-credential-activeloop and adds it to the global git config
// for the server's URL.
func (s *setup) git() error {
	c, err := s.planGitConfig(s.server.Origin)
	if err != nil {
		return err
	}
	return s.run(c, gitName, "the global git config still uses "+helperName+" for other URLs")
}

// configChange is a change to a client's configuration, planned, and
// checked, before anything is touched.
type configChange struct {
	what        string // the file, or "the global git config"
	done, would string // "changed" and "change", or "created" and "create"
	diff        string // a line per entry: "- " removed, "+ " added; empty for no change
	same        string // said instead of a diff when nothing changes
	inUse       bool   // the configuration, once changed, still runs this helper
	make        func() error
}

// run makes the link and the change: the link before the configuration that
// runs it, and after it on undo, so that the client never meets a helper it
// cannot find. On undo the link stays while the configuration still uses it.
func (s *setup) run(c *configChange, link, stillUsed string) error {
	if !s.opts.undo {
		if err := s.installLink(link); err != nil {
			return err
		}
		return s.apply(c)
	}
	if err := s.apply(c); err != nil {
		return err
	}
	if c.inUse {
		s.printf("kept the link %s: %s\n", link, stillUsed)
		return nil
	}
	return s.removeLink(link)
}

func (s *setup) apply(c *configChange) error {
	if c.diff == "" {
		s.printf("%s\n", c.same)
		return nil
	}
	s.printf("%s %s:\n%s", s.would(c.done, c.would), c.what, c.diff)
	if s.opts.dryRun {
		return nil
	}
	return c.make()
}

// linkDir is where the protocol links go.
func (s *setup) linkDir() (string, error) {
	if s.opts.binDir == "" {
		return filepath.Dir(s.exe), nil
	}
	return filepath.Abs(s.opts.binDir)
}

func exeName(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

// linkState says what is at path: nothing, a link to this binary (or this
// binary under another name), or something else, described.
func (s *setup) linkState(path string) (exists, ours bool, what string, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, "", nil
	}
	if err != nil {
		return false, false, "", err
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil && sameFile(resolved, s.exe) {
		return true, true, "", nil
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(path)
		return true, false, "a link to " + target, nil
	}
	return true, false, "a " + fileKind(fi), nil
}

func fileKind(fi fs.FileInfo) string {
	if fi.IsDir() {
		return "directory"
	}
	return "file that is not this binary"
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// installLink links name, in the link directory, to this binary: by its
// base name when it sits in the same directory, as packages install it,
// else by its absolute path.
func (s *setup) installLink(name string) error {
	dir, err := s.linkDir()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, exeName(name))
	target := s.exe
	if filepath.Dir(s.exe) == dir {
		target = filepath.Base(s.exe)
	}
	exists, ours, what, err := s.linkState(path)
	switch {
	case err != nil:
		return err
	case ours:
		s.printf("%s already links to this binary\n", path)
		s.checkPath(dir, name)
		return nil
	case exists && !s.opts.force:
		return fmt.Errorf("%s exists and is %s: remove it, or run setup again with --force to replace it", path, what)
	}
	replacing := ""
	if exists {
		replacing = " (replacing " + what + ")"
	}
	s.printf("%s %s -> %s%s\n", s.would("linked", "link"), path, target, replacing)
	if s.opts.dryRun {
		s.checkPath(dir, name)
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := replaceLink(target, path); err != nil {
		return fmt.Errorf("linking %s: %w", path, err)
	}
	s.checkPath(dir, name)
	return nil
}

// replaceLink makes path a link to target in one step: a new link under a
// temporary name, renamed over path.
func replaceLink(target, path string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".setup-tmp")
	os.Remove(tmp)
	err := os.Symlink(target, tmp)
	if err != nil && runtime.GOOS == "windows" {
		// Symbolic links need a privilege on Windows; a hard link does not.
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		err = os.Link(target, tmp)
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// removeLink removes name from the link directory when it links to this
// binary, and leaves anything else there alone.
func (s *setup) removeLink(name string) error {
	dir, err := s.linkDir()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, exeName(name))
	exists, ours, what, err := s.linkState(path)
	switch {
	case err != nil:
		return err
	case !exists:
		s.printf("%s is not there\n", path)
		return nil
	case !ours:
		fmt.Fprintf(s.stderr, "left %s alone: it is %s\n", path, what)
		return nil
	}
	s.printf("%s %s\n", s.would("removed link", "remove link"), path)
	if s.opts.dryRun {
		return nil
	}
	return os.Remove(path)
}

// checkPath warns when docker or git will not find the link.
func (s *setup) checkPath(dir, name string) {
	path, _ := s.getenv("PATH")
	for _, d := range filepath.SplitList(path) {
		if d, err := filepath.Abs(d); err == nil && d == dir {
			return
		}
	}
	fmt.Fprintf(s.stderr, "note: %s is not on PATH, where docker and git look for %s: add it to PATH\n", dir, name)
}

// dockerConfigFile is docker's config.json: in $DOCKER_CONFIG, else in
// ~/.docker, as the docker CLI finds it.
func dockerConfigFile(getenv env) (string, error) {
	if dir, ok := getenv("DOCKER_CONFIG"); ok && dir != "" {
		return filepath.Join(dir, "config.json"), nil
	}
	home := "HOME"
	if runtime.GOOS == "windows" {
		home = "USERPROFILE"
	}
	if dir, ok := getenv(home); ok && dir != "" {
		return filepath.Join(dir, ".docker", "config.json"), nil
	}
	return "", fmt.Errorf("cannot find docker's config.json: set DOCKER_CONFIG or %s", home)
}

// planDockerConfig plans adding credHelpers[host] = "activeloop" to the
// docker config file, or on undo removing it, keeping every other field and
// the order of the fields. The file is replaced in one step, keeping its
// mode, and is not touched at all when nothing changes.
func (s *setup) planDockerConfig(file, host string) (*configChange, error) {
	c := &configChange{what: file, done: "changed", would: "change"}
	// A config.json that links to a dotfiles repository stays a link.
	real := file
	if r, err := filepath.EvalSymlinks(file); err == nil {
		real = r
	}
	mode := fs.FileMode(0o600) // as docker creates it
	data, err := os.ReadFile(real)
	exists := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if s.opts.undo {
			c.same = file + " is not there"
			return c, nil
		}
		c.done, c.would = "created", "create"
	case err != nil:
		return nil, err
	default:
		fi, err := os.Stat(real)
		if err != nil {
			return nil, err
		}
		mode = fi.Mode().Perm()
	}
	cfg, err := parseJSONObject(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; fix it by hand: nothing was changed", file, err)
	}

	want, _ := json.Marshal(helperName)
	k, _ := json.Marshal(host)
	entry := func(sign string, v json.RawMessage) string {
		return fmt.Sprintf("%s credHelpers[%s] = %s\n", sign, k, compactJSON(v))
	}
	helpers := &jsonObject{}
	if raw, ok := cfg.get("credHelpers"); ok && string(bytes.TrimSpace(raw)) != "null" {
		if helpers, err = parseJSONObject(raw); err != nil {
			if !s.opts.undo {
				return nil, fmt.Errorf("%s: credHelpers is not a JSON object: fix it by hand: nothing was changed", file)
			}
			helpers = &jsonObject{} // nothing of ours in it
		}
	}
	cur, has := helpers.get(host)
	var curName string
	isOurs := has && json.Unmarshal(cur, &curName) == nil && curName == helperName

	switch {
	case s.opts.undo && isOurs:
		helpers.del(host)
		c.diff = entry("-", cur)
	case s.opts.undo && has:
		fmt.Fprintf(s.stderr, "left %s alone: credHelpers[%s] is %s, not %q\n", file, k, compactJSON(cur), helperName)
		c.same = fmt.Sprintf("%s has no credHelpers entry of %s for %s", file, helperName, host)
	case s.opts.undo:
		c.same = fmt.Sprintf("%s has no credHelpers entry for %s", file, host)
	case isOurs:
		c.same = fmt.Sprintf("%s already has credHelpers[%s] = %s", file, k, want)
	case has && !s.opts.force:
		return nil, fmt.Errorf("%s: credHelpers[%s] is %s, another helper: nothing was changed; to use %s for %s instead, run setup again with --force", file, k, compactJSON(cur), helperName, host)
	default:
		if has {
			c.diff = entry("-", cur)
		}
		helpers.set(host, want)
		c.diff += entry("+", want)
		s.plaintextHint(cfg, file, host)
	}
	if c.diff != "" {
		if len(helpers.keys) == 0 {
			cfg.del("credHelpers")
		} else {
			b, err := helpers.marshal()
			if err != nil {
				return nil, err
			}
			cfg.set("credHelpers", b)
		}
	}
	c.inUse = dockerConfigUses(cfg)
	if c.diff != "" && exists && mode&0o200 == 0 {
		return nil, fmt.Errorf("%s is read-only: nothing was changed; make it writable (chmod u+w) and run setup again", file)
	}
	c.make = func() error {
		out, err := cfg.marshalIndent()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
			return err
		}
		return writeFileAtomic(real, out, mode)
	}
	return c, nil
}

// dockerConfigUses reports whether a docker config runs this helper, as the
// credsStore or for any registry in credHelpers.
func dockerConfigUses(cfg *jsonObject) bool {
	var c struct {
		CredsStore  string          `json:"credsStore"`
		CredHelpers json.RawMessage `json:"credHelpers"`
	}
	b, err := cfg.marshal()
	if err != nil || json.Unmarshal(b, &c) != nil {
		return false
	}
	if c.CredsStore == helperName {
		return true
	}
	var helpers map[string]any
	json.Unmarshal(c.CredHelpers, &helpers)
	for _, h := range helpers {
		if h == helperName {
			return true
		}
	}
	return false
}

func compactJSON(v json.RawMessage) []byte {
	var c bytes.Buffer
	if json.Compact(&c, v) != nil {
		return v
	}
	return c.Bytes()
}

// plaintextHint points out a password for host that docker keeps in the
// file itself, from a login before the helper was set up.
func (s *setup) plaintextHint(cfg *jsonObject, file, host string) {
	raw, ok := cfg.get("auths")
	if !ok {
		return
	}
	var auths map[string]struct {
		Auth string `json:"auth"`
	}
	if json.Unmarshal(raw, &auths) == nil && auths[host].Auth != "" {
		fmt.Fprintf(s.stderr, "note: %s still holds a password for %s in plain text under auths; run `docker login %s` again to move it into the secure store\n", file, host, host)
	}
}

// writeFileAtomic replaces path with data in one step: a temporary file in
// the same directory, written, synced and renamed over path, so that a crash
// leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(mode); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename itself outlives a crash once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// jsonObject is a JSON object whose members keep their order and their
// values' text: a file written back differs only where it was changed (and
// in its indentation).
type jsonObject struct {
	keys []string
	vals map[string]json.RawMessage
}

// parseJSONObject reads a JSON object; empty input is an empty object, as
// the docker CLI reads an empty config.json. A key given twice keeps its
// first place and its last value, the one the docker CLI uses.
func parseJSONObject(data []byte) (*jsonObject, error) {
	o := &jsonObject{vals: map[string]json.RawMessage{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return o, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	fail := func(err error) (*jsonObject, error) {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, errors.New("not valid JSON: it ends too early")
		}
		// Unmarshal's scanner, unlike the decoder's tokens, reports every
		// syntax error just after the byte at fault.
		var se *json.SyntaxError
		if errors.As(json.Unmarshal(data, new(any)), &se) {
			line, col := position(data, se.Offset-1)
			return nil, fmt.Errorf("not valid JSON at line %d, column %d: %v", line, col, se)
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	t, err := dec.Token()
	if err != nil {
		return fail(err)
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		key := t.(string) // an object's member always starts with its key
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fail(err)
		}
		o.set(key, v)
	}
	if _, err := dec.Token(); err != nil {
		return fail(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not valid JSON: more follows the object")
	}
	return o, nil
}

// position returns the line and column, both from 1, of the byte at offset.
func position(data []byte, offset int64) (line, col int) {
	offset = max(0, min(offset, int64(len(data))))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func (o *jsonObject) get(key string) (json.RawMessage, bool) {
	v, ok := o.vals[key]
	return v, ok
}

func (o *jsonObject) set(key string, v json.RawMessage) {
	if o.vals == nil {
		o.vals = map[string]json.RawMessage{}
	}
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

func (o *jsonObject) del(key string) {
	if _, ok := o.vals[key]; !ok {
		return
	}
	delete(o.vals, key)
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			break
		}
	}
}

// marshal writes the object compactly, its members in order.
func (o *jsonObject) marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(k); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(':')
		buf.Write(o.vals[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshalIndent writes the object as the docker CLI writes config.json,
// indented with tabs, and ends it with a newline.
func (o *jsonObject) marshalIndent() ([]byte, error) {
	b, err := o.marshal()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "\t"); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// planGitConfig plans adding `credential.<url>.helper = activeloop` to the
// global git config, or on undo removing that value, leaving any other
// helper for the URL alone. git itself edits the file: it finds it as git
// does (GIT_CONFIG_GLOBAL, ~/.gitconfig or $XDG_CONFIG_HOME/git/config) and
// writes it under its own lock.
func (s *setup) planGitConfig(url string) (*configChange, error) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return nil, errors.New("git is not installed, or not on PATH: setup git needs it to change the global git config")
	}
	c := &configChange{what: "the global git config", done: "changed", would: "change"}
	key := "credential." + url + ".helper"
	// Every helper setting: credential.helper and credential.<url>.helper.
	all, err := gitConfig(gitPath, "--get-regexp", `^credential\.(.*\.)?helper$`)
	if err != nil && !gitAbsent(err) {
		return nil, err
	}
	has := false
	for _, line := range strings.Split(all, "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch {
		case v != helperName:
		case k == key:
			has = true
		default:
			c.inUse = true
		}
	}
	entry := fmt.Sprintf("%s = %s", key, helperName)
	switch {
	case s.opts.undo && !has:
		c.same = "the global git config has no " + entry
	case s.opts.undo:
		c.diff = "- " + entry + "\n"
		c.make = func() error {
			if _, err := gitConfig(gitPath, "--unset-all", key, "^"+regexp.QuoteMeta(helperName)+"$"); err != nil {
				return err
			}
			// Leave no empty [credential "<url>"] section behind, where git
			// does not remove it itself; a section already gone is no error.
			if _, err := gitConfig(gitPath, "--get-regexp", `^credential\.`+regexp.QuoteMeta(url)+`\.`); gitAbsent(err) {
				gitConfig(gitPath, "--remove-section", "credential."+url)
			}
			return nil
		}
	case has:
		c.same = "the global git config already has " + entry
	default:
		c.diff = "+ " + entry + "\n"
		c.make = func() error {
			_, err := gitConfig(gitPath, "--add", key, helperName)
			return err
		}
	}
	return c, nil
}

// gitConfig runs `git config --global ARGS…` and returns its output. Its
// error holds git's message and wraps the exit status: 1 is "no such key"
// for the queries.
func gitConfig(gitPath string, args ...string) (string, error) {
	cmd := exec.Command(gitPath, append([]string{"config", "--global"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			msg = ": " + msg
		}
		return "", fmt.Errorf("git config --global %s: %w%s", strings.Join(args, " "), err, msg)
	}
	return strings.TrimRight(stdout.String(), "\n"), nil
}

// gitAbsent reports the exit status with which git config says a key is
// not there.
func gitAbsent(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit) && exit.ExitCode() == 1
}
