//go:build gendocs

// The man page and the shell completions are generated from the command
// definitions, so they cannot drift from them:
//
//	go run -tags gendocs ./cmd/activeloop-credential-helper gendocs DIR
//
// writes DIR/man/activeloop-credential-helper.1 and
// DIR/completions/activeloop-credential-helper.{bash,zsh,fish}. It is a build
// of its own because the man page writer (urfave/cli's ToMan, with a markdown
// engine) costs every other process of the helper time at start-up.

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

func init() {
	commandGroups = append(commandGroups, func(e *appEnv) []*cli.Command {
		return []*cli.Command{{
			Name:      "gendocs",
			Hidden:    true,
			ArgsUsage: "DIR",
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usageError{fmt.Errorf("gendocs takes one argument, the output directory")}
				}
				return genDocs(c.App, c.Args().First())
			},
		}}
	})
}

func genDocs(app *cli.App, dir string) error {
	man, err := app.ToManWithSection(1)
	if err != nil {
		return err
	}
	fish, err := app.ToFishCompletion()
	if err != nil {
		return err
	}
	bash := bashCompletion(app)
	files := map[string]string{
		"man/" + mainName + ".1":            man,
		"completions/" + mainName + ".bash": bash,
		"completions/" + mainName + ".fish": fish,
		"completions/" + mainName + ".zsh":  zshCompletion(bash),
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// bashCompletion completes commands, subcommands and their flags, from a
// table written out here: nothing runs the helper while a person types.
func bashCompletion(app *cli.App) string {
	words := map[string][]string{}
	var walk func(path string, cmds []*cli.Command, flags []cli.Flag)
	walk = func(path string, cmds []*cli.Command, flags []cli.Flag) {
		var w []string
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			w = append(w, c.Name)
			walk(strings.TrimSpace(path+" "+c.Name), c.Subcommands, c.Flags)
		}
		for _, f := range flags {
			for _, n := range f.Names() {
				if len(n) == 1 {
					w = append(w, "-"+n)
				} else {
					w = append(w, "--"+n)
				}
			}
		}
		if !slices.Contains(w, "--help") {
			w = append(w, "--help")
		}
		words[path] = w
	}
	walk("", app.Commands, app.Flags)
	paths := make([]string, 0, len(words))
	for p := range words {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	fn := "_" + strings.ReplaceAll(mainName, "-", "_")
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s, generated from its command definitions.\n", mainName)
	fmt.Fprintf(&b, "%s() {\n", fn)
	b.WriteString("  local cur=${COMP_WORDS[COMP_CWORD]} path= i w\n")
	b.WriteString("  for ((i = 1; i < COMP_CWORD; i++)); do\n")
	b.WriteString("    w=${COMP_WORDS[i]}\n")
	b.WriteString("    case $w in -*) continue ;; esac\n")
	b.WriteString("    case \"${path:+$path }$w\" in\n")
	for _, p := range paths {
		if p != "" {
			fmt.Fprintf(&b, "      %q) path=%q ;;\n", p, p)
		}
	}
	b.WriteString("    esac\n")
	b.WriteString("  done\n")
	b.WriteString("  case $path in\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "    %q) w=%q ;;\n", p, strings.Join(words[p], " "))
	}
	b.WriteString("  esac\n")
	b.WriteString("  COMPREPLY=($(compgen -W \"$w\" -- \"$cur\"))\n")
	b.WriteString("}\n")
	fmt.Fprintf(&b, "complete -o default -F %s %s\n", fn, mainName)
	return b.String()
}

// zshCompletion serves the bash table through zsh's bash compatibility.
func zshCompletion(bash string) string {
	return "#compdef " + mainName + "\n" +
		"# zsh completion for " + mainName + ", generated from its command definitions.\n" +
		"autoload -U +X bashcompinit && bashcompinit\n" + bash
}
