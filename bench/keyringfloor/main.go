// Command keyringfloor is the library floor of the benchmarks: the least a Go
// program can do to read one item through 99designs/keyring — open one backend
// explicitly and Get — with none of the helper's protocol, config or checks.
//
//	keyringfloor BACKEND KEY
//
// BACKEND is secret-service, kwallet, pass, keyctl or file (its directory
// and password from KEYRINGFLOOR_FILE_DIR and KEYRINGFLOOR_FILE_PASSWORD);
// the item's data is printed to stdout.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/99designs/keyring"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: keyringfloor BACKEND KEY")
		os.Exit(2)
	}
	cfg := keyring.Config{
		AllowedBackends:         []keyring.BackendType{keyring.BackendType(os.Args[1])},
		ServiceName:             "keyringfloor",
		LibSecretCollectionName: "login",
		KeyCtlScope:             "user",
		PassPrefix:              "keyringfloor",
		FileDir:                 os.Getenv("KEYRINGFLOOR_FILE_DIR"),
		FilePasswordFunc:        func(string) (string, error) { return os.Getenv("KEYRINGFLOOR_FILE_PASSWORD"), nil },
	}
	kr, err := keyring.Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(os.Args[2]) > 0 && os.Args[2][0] == '+' { // +KEY=VALUE stores, for setting up
		k, v, _ := strings.Cut(os.Args[2][1:], "=")
		err = kr.Set(keyring.Item{Key: k, Data: []byte(v)})
	} else {
		var it keyring.Item
		if it, err = kr.Get(os.Args[2]); err == nil {
			os.Stdout.Write(it.Data)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
