// Package version holds the build stamp of the binary, set by the Makefile with
// -ldflags "-X github.com/ctms-go/ctms/internal/version.Version=...".
package version

// Set at build time; the defaults describe an unstamped development build.
var (
	Source  = "https://github.com/ctms-go/ctms"
	Version = "v0.0.0"
	Commit  = "HEAD"
	Build   = ""
)

// Info is the /__version__ document (Dockerflow).
type Info struct {
	Source  string  `json:"source"`
	Version string  `json:"version"`
	Commit  string  `json:"commit"`
	Build   *string `json:"build"`
}

// Current is the stamped build information.
func Current() Info {
	i := Info{Source: Source, Version: Version, Commit: Commit}
	if Build != "" {
		i.Build = &Build
	}
	return i
}
