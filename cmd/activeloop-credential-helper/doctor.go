package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/activeloopai/activeloop-credential-helper/internal/config"
	"github.com/activeloopai/activeloop-credential-helper/store"
)

func init() {
	commandGroups = append(commandGroups, func(e *appEnv) []*cli.Command {
		return []*cli.Command{{
			Name:  "doctor",
			Usage: "check every secure store on this machine, the configuration, and plaintext tokens left on disk",
			Description: "Says for each backend whether it is usable here, and if not why and how to fix it;\n" +
				"which backend is selected and why; the config file and where each setting comes from;\n" +
				"and plaintext token files of the old client. It changes nothing and never prompts.\n" +
				"Exit status 0 when the selected backend is usable, 1 when it is not.",
			Action: func(c *cli.Context) error {
				if c.Args().Present() {
					return usageError{fmt.Errorf("doctor takes no arguments")}
				}
				ok, err := doctor(c.Context, e)
				if err != nil {
					return err
				}
				if !ok {
					return exitError{1}
				}
				return nil
			},
		}}
	})
}

// doctor writes its report to stdout and says whether the selected backend
// works. Nothing in it is secret: it reads no item.
func doctor(ctx context.Context, e *appEnv) (bool, error) {
	s, err := newSession(e.getenv, e.flags, e.stderr)
	if err != nil {
		return false, err
	}
	cfg := s.cfg
	out := e.stdout
	switch {
	case cfg.Path == "":
		fmt.Fprintln(out, "config file: none (no user config directory); defaults and environment in effect")
	case cfg.Found:
		fmt.Fprintf(out, "config file: %s\n", cfg.Path)
	default:
		fmt.Fprintf(out, "config file: %s (absent: defaults and environment in effect)\n", cfg.Path)
	}
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	for _, k := range config.Keys() {
		if v := cfg.Value(k); v != "" {
			fmt.Fprintf(tw, "  %s\t%s\t(%s)\n", k, v, cfg.Source(k))
		}
	}
	tw.Flush()

	fmt.Fprintln(out, "\nsecure stores:")
	opts := cfg.StoreOptions()
	available := store.Available()
	usable := map[string]bool{}
	tw = tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	for _, name := range store.Names {
		if !slices.Contains(available, name) {
			fmt.Fprintf(tw, "  %s\tnot on this system\n", name)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		err := store.Probe(pctx, name, opts)
		cancel()
		if err != nil {
			fmt.Fprintf(tw, "  %s\tunusable: %s\n", name, store.Reason(err))
			continue
		}
		usable[name] = true
		fmt.Fprintf(tw, "  %s\tusable\n", name)
	}
	tw.Flush()

	var selected, reason string
	if cfg.Backend == "auto" {
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		selected, reason, err = store.ProbeAuto(pctx, opts)
		cancel()
	} else {
		selected, reason = cfg.Backend, "chosen by "+cfg.Source("backend").String()
		if !usable[selected] {
			err = fmt.Errorf("%s is not usable here: see above", selected)
		}
	}
	if err != nil {
		fmt.Fprintf(out, "\nselected: none: %s\n", store.Reason(err))
		for _, name := range store.Names {
			if usable[name] && name != cfg.Backend {
				fmt.Fprintf(out, "  %s is usable here: choose it with --backend %s, ACTIVELOOP_CREDENTIAL_BACKEND=%s or backend = %q in the config file\n", name, name, name, name)
			}
		}
	} else {
		fmt.Fprintf(out, "\nselected: %s (%s)\n", selected, reason)
	}

	fmt.Fprintln(out, "\nplaintext tokens:")
	reportPlaintext(out, legacyTokenPath(e.getenv))
	return err == nil, nil
}

// reportPlaintext names the old client's token file, if it is still there,
// and the command that moves it into the secure store. It never reads it.
func reportPlaintext(out io.Writer, path string) {
	if path == "" {
		fmt.Fprintln(out, "  cannot look: no home directory")
		return
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		mode := fi.Mode().Perm()
		exposure := ""
		if mode&0o077 != 0 {
			exposure = ", readable by other users"
		}
		fmt.Fprintf(out, "  %s (mode %04o%s): move it into the secure store with\n      %s import --remove\n", path, mode, exposure, mainName)
	case os.IsNotExist(err):
		fmt.Fprintf(out, "  none (%s is absent)\n", path)
	default:
		fmt.Fprintf(out, "  %v\n", err)
	}
}
