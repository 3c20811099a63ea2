// Package buildinfo holds the version stamped into every binary at link
// time (make build sets Version with -ldflags -X).
package buildinfo

import "runtime/debug"

// Version is the release version, or "dev" for a plain go build.
var Version = "dev"

// String returns Version, with the VCS revision for dev builds when known.
func String() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return Version
}
