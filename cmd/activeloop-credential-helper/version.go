package main

import "runtime/debug"

// Set by release builds: -ldflags "-X main.version=1.2.3 -X main.commit=… -X main.date=…".
var version, commit, date string

const modulePath = "github.com/activeloopai/activeloop-credential-helper"

func getVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// protocolVersion is the docker protocol's version line, as
// docker-credential-helpers prints it: name (package) version.
func protocolVersion(name string) string {
	return name + " (" + modulePath + ") " + getVersion()
}

// longVersion adds what release builds know of their source: the commit and
// the build date.
func longVersion() string {
	v := getVersion()
	if commit != "" {
		v += " (commit " + commit
		if date != "" {
			v += ", built " + date
		}
		v += ")"
	}
	return v
}
