package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The end-to-end tests run the helper as a separate process, the way docker,
// git and people run it.
//
// The scripts in testdata/script run the test binary itself under the
// helper's two names (testscript's re-exec: the binary dispatches on the base
// name of argv[0], as the installed links do), against real secure stores:
// the whole set once on pass and once on keyctl.
//
// The client and bus tests run a binary built with `go build`, the one users
// install.

func TestMain(m *testing.M) {
	testscript.Main(removeBuiltAfter{m}, map[string]func(){
		// main is the installed binary's: busguard.Restore, then
		// os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)).
		mainName:   main,
		dockerName: main,
		gitName:    main,
		// A process that looks for the session bus the way godbus does,
		// with nothing hidden from it: the control of the bus tests.
		busProbeName: busProbe,
	})
}

// removeBuiltAfter removes the binary built by builtHelper once every test
// has run: testscript.Main exits the process when Run returns.
type removeBuiltAfter struct{ m *testing.M }

func (r removeBuiltAfter) Run() int {
	code := r.m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	return code
}

// built is the helper binary of this package, built once per test process.
var built struct {
	once sync.Once
	dir  string
	err  error
}

// builtHelper builds this command with `go build` into a directory of its
// own, with docker-credential-activeloop as a link to it, the way packages
// install it, and returns that directory.
func builtHelper(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = fmt.Errorf("the go command is needed to build the helper: %w", err)
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "helper-bin"); built.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, goTool, "build", "-o", filepath.Join(built.dir, mainName), ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		built.err = os.Symlink(mainName, filepath.Join(built.dir, dockerName))
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

// emptyConfig returns the path of an empty config file: every setting comes
// from the environment the test gives, none from the user's own file.
func emptyConfig(t testing.TB) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "credential-helper.toml")
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// scriptFamily runs the scripts against one real backend.
type scriptFamily struct {
	backend string
	// serial runs the scripts one after another: the store is shared by
	// every script and cannot be split between them.
	serial bool
	// setup adds to one script's environment what the helper needs to use
	// the store, and starts or empties the store for that script.
	setup func(e *testscript.Env) error
	// cmds are script commands for this backend only.
	cmds map[string]func(ts *testscript.TestScript, neg bool, args []string)
}

func runScripts(t *testing.T, f scriptFamily) {
	p := testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			// Every setting comes from the script's environment or a
			// config file it names, never from the user's own.
			config := filepath.Join(e.WorkDir, "credential-helper.toml")
			if _, err := os.Stat(config); errors.Is(err, os.ErrNotExist) {
				if err := os.WriteFile(config, []byte("# every setting from the environment\n"), 0o600); err != nil {
					return err
				}
			}
			// backend.toml chooses this family's backend, for the scripts
			// about the config file.
			if err := os.WriteFile(filepath.Join(e.WorkDir, "backend.toml"), []byte("backend = \""+f.backend+"\"\n"), 0o600); err != nil {
				return err
			}
			e.Setenv("ACTIVELOOP_CREDENTIAL_HELPER_CONFIG", config)
			e.Setenv("ACTIVELOOP_CREDENTIAL_BACKEND", f.backend)
			e.Setenv("BACKEND", f.backend)
			e.Setenv("VERSION", getVersion())
			// The scripts run this test binary; built with -race, it would
			// sleep a second on every exit to wait for race reports.
			e.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return f.setup(e)
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "pass", "keyctl":
				return cond == f.backend, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":     cmdExits,
			"writefile": cmdWritefile,
			"bigfile":   cmdBigfile,
		},
	}
	for name, cmd := range f.cmds {
		p.Cmds[name] = cmd
	}
	if !f.serial {
		testscript.Run(t, p)
		return
	}
	if d, ok := t.Deadline(); ok {
		p.Deadline = d
	}
	testscript.RunT(serialT{t}, p)
}

// serialT runs testscript's scripts one after another: its subtests do not
// call t.Parallel.
type serialT struct{ *testing.T }

func (serialT) Parallel() {}

func (t serialT) Run(name string, f func(testscript.T)) {
	t.T.Run(name, func(t *testing.T) { f(serialT{t}) })
}

func (serialT) Verbose() bool { return testing.Verbose() }

// cmdExits runs a program like exec and checks its exit status:
//
//	exits 1 docker-credential-activeloop get
//
// The docker protocol and the command line distinguish failure (1) from a
// usage error (2); exec only tells success from failure.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exits")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exits status program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil || want < 0 {
		ts.Fatalf("exits: bad exit status %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		got = exit.ExitCode()
	default:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// cmdWritefile writes a file whose content is a Go string literal's body, so
// that a script can make input a txtar section cannot hold: no final
// newline, control characters.
//
//	writefile app.url 'https://app.activeloop.ai'
//	writefile tab.url 'https://app.activeloop.ai/a\tb'
func cmdWritefile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: writefile file text")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(unquote(ts, args[1])), 0o600))
}

// cmdBigfile writes prefix, then size bytes cycling through [0-9a-z], then
// suffix; prefix and suffix are Go string literal bodies.
//
//	bigfile big.json 16384 '{"ServerURL":"https://big.example","Username":"big","Secret":"' '"}'
func cmdBigfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 4 {
		ts.Fatalf("usage: bigfile file size [prefix [suffix]]")
	}
	size, err := strconv.Atoi(args[1])
	if err != nil || size < 0 {
		ts.Fatalf("bigfile: bad size %q", args[1])
	}
	var prefix, suffix string
	if len(args) > 2 {
		prefix = unquote(ts, args[2])
	}
	if len(args) > 3 {
		suffix = unquote(ts, args[3])
	}
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 0, len(prefix)+size+len(suffix))
	b = append(b, prefix...)
	for i := range size {
		b = append(b, alphabet[i%len(alphabet)])
	}
	b = append(b, suffix...)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
}

func unquote(ts *testscript.TestScript, s string) string {
	u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
	if err != nil {
		ts.Fatalf("bad string %q: %v", s, err)
	}
	return u
}
