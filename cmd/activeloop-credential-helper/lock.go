package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/activeloopai/activeloop-credential-helper/internal/config"
	"github.com/activeloopai/activeloop-credential-helper/store"
)

// lock forgets the file backend's cached key (SPEC §9): the next request
// pays for the passphrase again, from the environment, the passphrase file
// or the terminal. It needs no passphrase, and opens no store.

func init() {
	commandGroups = append(commandGroups, lockCommands)
}

func lockCommands(e *appEnv) []*cli.Command {
	var all bool
	return []*cli.Command{{
		Name:     "lock",
		Category: "secure store",
		Usage:    "forget the file backend's cached key, so that the next request needs the passphrase again",
		Description: "The file backend caches the key derived from its passphrase in the kernel keyring (Linux)\n" +
			"for file_key_cache_ttl (default 15m; 0 disables). lock drops it for the configured file_dir;\n" +
			"--all drops the cached keys of every file store of this user.",
		UsageText: mainName + " lock [--all]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "forget the cached keys of every file store of this user", Destination: &all},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("lock takes no arguments; see lock --help")
			}
			if err := lock(e, all); err != nil {
				fmt.Fprintf(e.stderr, "%s: lock: %v\n", mainName, err)
				return exitError{1}
			}
			return nil
		},
	}}
}

func lock(e *appEnv, all bool) error {
	if !store.FileKeyCache() {
		fmt.Fprintln(e.stderr, "this system keeps no cached key of the file backend: nothing to forget")
		return nil
	}
	if all {
		n, err := store.ForgetFileKeys()
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "forgot %d cached key%s of file stores\n", n, map[bool]string{true: "", false: "s"}[n == 1])
		return nil
	}
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	dir, forgot, err := store.ForgetFileKey(cfg.StoreOptions())
	if err != nil {
		return err
	}
	if forgot {
		fmt.Fprintf(e.stderr, "forgot the cached key of the credential store in %s\n", dir)
	} else {
		fmt.Fprintf(e.stderr, "no key of the credential store in %s was cached\n", dir)
	}
	return nil
}
