package store

import (
	"os"
	"path/filepath"
	"testing"
)

// kwalletrcEnv gives a test its own XDG directories: a user config
// directory and two system ones, each with the kwalletrc given (none if "").
func kwalletrcEnv(t *testing.T, user, sys1, sys2 string) (data string) {
	t.Helper()
	root := t.TempDir()
	dirs := map[string]string{"user": user, "sys1": sys1, "sys2": sys2}
	for dir, rc := range dirs {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o700); err != nil {
			t.Fatal(err)
		}
		if rc != "" {
			if err := os.WriteFile(filepath.Join(root, dir, "kwalletrc"), []byte(rc), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv("HOME", filepath.Join(root, "home"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(root, "user"))
	// sys1 comes first: it is the more important.
	t.Setenv("XDG_CONFIG_DIRS", filepath.Join(root, "sys1")+":"+filepath.Join(root, "sys2"))
	data = filepath.Join(root, "data")
	t.Setenv("XDG_DATA_HOME", data)
	return data
}

func TestNetworkWalletFromConfig(t *testing.T) {
	for _, tc := range []struct {
		name             string
		user, sys1, sys2 string
		want             string
		ok               bool
	}{
		{"no files", "", "", "", "kdewallet", true},
		{"user", "[Wallet]\nDefault Wallet=work\n", "", "", "work", true},
		{"spaces and comments", "# c\n[Wallet]\n  Default Wallet = work  \nFirst Use=false\n", "", "", "work", true},
		{"empty value", "[Wallet]\nDefault Wallet=\n", "", "", "kdewallet", true},
		{"another group", "[Other]\nDefault Wallet=x\n[Wallet]\nEnabled=true\n", "", "", "kdewallet", true},
		{"group after", "[Wallet]\nDefault Wallet=a\n[Wallet][Sub]\nDefault Wallet=b\n", "", "", "a", true},
		{"system only", "", "", "[Wallet]\nDefault Wallet=site\n", "site", true},
		{"first system dir wins", "", "[Wallet]\nDefault Wallet=one\n", "[Wallet]\nDefault Wallet=two\n", "one", true},
		{"user wins", "[Wallet]\nDefault Wallet=mine\n", "[Wallet]\nDefault Wallet=one\n", "", "mine", true},
		{"user without the entry", "[Wallet]\nEnabled=true\n", "[Wallet]\nDefault Wallet=one\n", "", "one", true},
		{"immutable file", "", "[$i]\n[Wallet]\nDefault Wallet=one\n", "", "", false},
		{"immutable group", "", "[Wallet][$i]\nDefault Wallet=one\n", "", "", false},
		{"immutable entry", "[Wallet]\nDefault Wallet[$i]=one\n", "", "", "", false},
		{"translated entry", "[Wallet]\nDefault Wallet[de]=eins\n", "", "", "", false},
		{"escape", "[Wallet]\nDefault Wallet=a\\sb\n", "", "", "", false},
		{"expansion", "[Wallet]\nDefault Wallet=$USER\n", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kwalletrcEnv(t, tc.user, tc.sys1, tc.sys2)
			got, ok := networkWalletFromConfig()
			if got != tc.want || ok != tc.ok {
				t.Errorf("networkWalletFromConfig() = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestNetworkWalletUnreadableConfig(t *testing.T) {
	kwalletrcEnv(t, "", "", "")
	// A directory where the file should be: not readable as a file.
	if err := os.Mkdir(filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "kwalletrc"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got, ok := networkWalletFromConfig(); ok {
		t.Errorf("networkWalletFromConfig() = %q, true; want not sure", got)
	}
}

func TestLocalWallet(t *testing.T) {
	data := kwalletrcEnv(t, "[Wallet]\nDefault Wallet=work\n", "", "")
	wallets := filepath.Join(data, "kwalletd")
	if err := os.MkdirAll(filepath.Join(wallets, "dir.kwl"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"work.kwl", "other.kwl"} {
		if err := os.WriteFile(filepath.Join(wallets, name), make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		configured, want string
		ok               bool
	}{
		{"", "work", true},       // kwalletrc's, on disk
		{"other", "other", true}, // configured, on disk
		{"missing", "", false},   // no file: ask kwalletd
		{"dir", "", false},       // not a file
		{"../work", "", false},   // not a plain name
		{"a b", "", false},       // kwalletd encodes the space
		{".hidden", "", false},
	} {
		got, ok := localWallet(tc.configured)
		if got != tc.want || ok != tc.ok {
			t.Errorf("localWallet(%q) = %q, %v; want %q, %v", tc.configured, got, ok, tc.want, tc.ok)
		}
	}
	// Without XDG_DATA_HOME, under HOME.
	t.Setenv("XDG_DATA_HOME", "")
	home := os.Getenv("HOME")
	if err := os.MkdirAll(filepath.Join(home, ".local/share/kwalletd"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".local/share/kwalletd/work.kwl"), make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, ok := localWallet(""); got != "work" || !ok {
		t.Errorf("localWallet under HOME = %q, %v", got, ok)
	}
}
