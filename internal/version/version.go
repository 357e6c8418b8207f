// Package version holds the build version stamped into the crmsync binary.
package version

import "runtime"

// Version is set at build time with -ldflags "-X github.com/crmsync/crmsync/internal/version.Version=...".
var Version = "dev"

// String describes the build for `crmsync version` and the manager's start-up log.
func String() string {
	return "crmsync " + Version + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
