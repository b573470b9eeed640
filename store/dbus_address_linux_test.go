package store

import "testing"

func TestUnixBusSocket(t *testing.T) {
	for _, tc := range []struct {
		addr, network, path string
		ok                  bool
	}{
		{"unix:path=/run/user/1000/bus", "unix", "/run/user/1000/bus", true},
		{"unix:path=/tmp/a%20b,guid=0123456789abcdef0123456789abcdef", "unix", "/tmp/a b", true},
		{"unix:abstract=/tmp/dbus-XYZ,guid=01", "unix", "@/tmp/dbus-XYZ", true},
		{"unix:path=/a;unix:path=/b", "", "", false},         // several: godbus tries each
		{"unix:dir=/tmp", "", "", false},                     // godbus's job
		{"unix:path=/tmp/x,runtime=yes", "", "", false},      // unknown key
		{"unix:path=/tmp/%zz", "", "", false},                // bad escape
		{"unix:path=/tmp/%2", "", "", false},                 // truncated escape
		{"unix:path=", "", "", false},                        // empty
		{"unix:abstract=", "", "", false},                    // empty
		{"tcp:host=127.0.0.1,port=4000", "", "", false},      // not a unix socket
		{"unixexec:path=/usr/bin/dbus-stdio", "", "", false}, // not a socket
	} {
		network, path, ok := unixBusSocket(tc.addr)
		if ok != tc.ok || (ok && (network != tc.network || path != tc.path)) {
			t.Errorf("unixBusSocket(%q) = %q, %q, %v; want %q, %q, %v", tc.addr, network, path, ok, tc.network, tc.path, tc.ok)
		}
	}
}
