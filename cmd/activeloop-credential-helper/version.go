package main

import "runtime/debug"

// version is set by release builds: -ldflags "-X main.version=v1.2.3".
var version string

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
