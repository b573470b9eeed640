package store

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Asking kwalletd which wallet is the network wallet and whether it exists
// costs a round trip to it on every request. KDE's own client library does
// not ask: it reads the network wallet from kwalletrc, and kwalletd decides
// that a wallet exists by its file. localWallet does the same, and says when
// it cannot be sure, so that the caller asks kwalletd after all. A wallet
// found here exists for kwalletd too unless the two run with different data
// directories and both hold a wallet of that name.

// localWallet returns the wallet to open, configured or kwalletrc's network
// wallet, if its file exists in kwalletd's data directory. ok is false when
// either is in doubt.
func localWallet(configured string) (name string, ok bool) {
	name = configured
	if name == "" {
		if name, ok = networkWalletFromConfig(); !ok {
			return "", false
		}
	}
	if !plainWalletName(name) {
		return "", false
	}
	dir := xdgDir("XDG_DATA_HOME", ".local/share")
	if dir == "" {
		return "", false
	}
	fi, err := os.Stat(filepath.Join(dir, "kwalletd", name+".kwl"))
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return name, true
}

// plainWalletName is a wallet name that names its file unchanged: kwalletd
// encodes other characters in file names.
func plainWalletName(name string) bool {
	if name == "" || name[0] == '.' {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// xdgDir is an XDG base directory: the variable if it holds an absolute
// path, else the default under HOME.
func xdgDir(variable, underHome string) string {
	if d := os.Getenv(variable); filepath.IsAbs(d) {
		return d
	}
	home := os.Getenv("HOME")
	if !filepath.IsAbs(home) {
		return ""
	}
	return filepath.Join(home, underHome)
}

// networkWalletFromConfig is KWallet::Wallet::NetworkWallet(): the
// "Default Wallet" entry of the [Wallet] group of kwalletrc, else
// "kdewallet". kwalletrc cascades as KConfig files do: the user's file over
// each of XDG_CONFIG_DIRS's. ok is false when a file uses what this reader
// does not follow (escapes, expansions, immutability markers): then kwalletd
// is asked instead.
func networkWalletFromConfig() (name string, ok bool) {
	// From the least to the most important file.
	var files []string
	dirs := os.Getenv("XDG_CONFIG_DIRS")
	if dirs == "" {
		dirs = "/etc/xdg"
	}
	for _, d := range slices.Backward(strings.Split(dirs, ":")) {
		if filepath.IsAbs(d) {
			files = append(files, filepath.Join(d, "kwalletrc"))
		}
	}
	home := xdgDir("XDG_CONFIG_HOME", ".config")
	if home == "" {
		return "", false
	}
	files = append(files, filepath.Join(home, "kwalletrc"))

	name = ""
	for _, f := range files {
		v, found, ok := readKConfigEntry(f, "Wallet", "Default Wallet")
		if !ok {
			return "", false
		}
		if found {
			name = v
		}
	}
	if name == "" {
		name = "kdewallet"
	}
	return name, true
}

// readKConfigEntry reads one entry of one group of a KConfig file. A missing
// file has no entries. ok is false for a file this reader does not follow.
func readKConfigEntry(path, group, key string) (value string, found, ok bool) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return "", false, true
	}
	if err != nil {
		return "", false, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
			continue
		case strings.HasPrefix(line, "[$"):
			return "", false, false // a marker for the whole file
		case line[0] == '[':
			if strings.Contains(line, "[$") {
				return "", false, false // a marker on a group
			}
			in = line == "["+group+"]"
			continue
		}
		if !in {
			continue
		}
		k, v, isEntry := strings.Cut(line, "=")
		if !isEntry {
			continue
		}
		k = strings.TrimSpace(k)
		if k == key {
			v = strings.TrimSpace(v)
			if strings.ContainsAny(v, `\$`) {
				return "", false, false
			}
			value, found = v, true
		} else if strings.HasPrefix(k, key+"[") {
			return "", false, false // a marker or a translation
		}
	}
	if sc.Err() != nil {
		return "", false, false
	}
	return value, found, true
}
