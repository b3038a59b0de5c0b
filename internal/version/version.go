// Package version says which build of clusterd is running.
//
// `make build` and `make release` stamp the three variables below with
// -ldflags -X (from `git describe --tags --always --dirty`, the commit and
// the build time). A binary built without them, such as one from
// `go install github.com/clusterd/clusterd/cmd/clusterd@VERSION`, falls back
// to what the Go toolchain recorded in it: the module version, and the VCS
// revision and time when it was built inside a git checkout.
//
// Standard library only, so that any package may import it.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Stamped at build time with, for example,
//
//	-ldflags "-X github.com/clusterd/clusterd/internal/version.Version=v1.2.0"
var (
	Version string // git describe --tags --always --dirty
	Commit  string // full commit hash
	Date    string // build time, RFC 3339, UTC
)

// Info is one build's identity. Fields it cannot know are empty.
type Info struct {
	Version string
	Commit  string
	Date    string
	Go      string // toolchain, e.g. go1.26.8
}

// Get returns the stamped values, filling what was not stamped from the
// build info the Go toolchain embeds.
func Get() Info {
	info := Info{Version: Version, Commit: Commit, Date: Date, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info = fill(info, bi)
	}
	if info.Version == "" {
		info.Version = "unknown"
	}
	return info
}

// fill completes info from the toolchain's build info; stamped values win.
func fill(info Info, bi *debug.BuildInfo) Info {
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.time":
			if info.Date == "" {
				info.Date = s.Value
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	// Only a pseudo-version or nothing says "dirty" already; a plain
	// (devel) build from a modified tree says so here.
	if info.Version == "" && info.Commit != "" {
		info.Version = short(info.Commit)
		if modified {
			info.Version += "-dirty"
		}
	}
	if bi.GoVersion != "" {
		info.Go = bi.GoVersion
	}
	return info
}

// String is what `clusterd --version` prints after "clusterd version ":
//
//	v1.2.0-3-g1a2b3c4-dirty (commit 1a2b3c4d5e6f, built 2026-12-02T02:22:39Z, go1.26.8 linux/amd64)
func (i Info) String() string {
	var details []string
	if i.Commit != "" {
		details = append(details, "commit "+short(i.Commit))
	}
	if i.Date != "" {
		details = append(details, "built "+i.Date)
	}
	details = append(details, i.Go+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return i.Version + " (" + strings.Join(details, ", ") + ")"
}

// short abbreviates a commit hash to 12 digits, as `go version -m` does
// in pseudo-versions.
func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
