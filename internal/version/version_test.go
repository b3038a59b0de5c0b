package version

import (
	"regexp"
	"runtime/debug"
	"testing"
)

func TestStampedWinsOverBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Version: "v9.9.9"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "ffffffffffffffffffffffffffffffffffffffff"},
			{Key: "vcs.time", Value: "2000-01-01T00:00:00Z"},
		},
	}
	got := fill(Info{Version: "v1.2.0-3-g1a2b3c4-dirty", Commit: "1a2b3c4d5e6f7a8b9c0d", Date: "2026-12-02T02:22:39Z"}, bi)
	want := Info{Version: "v1.2.0-3-g1a2b3c4-dirty", Commit: "1a2b3c4d5e6f7a8b9c0d", Date: "2026-12-02T02:22:39Z", Go: "go1.26.8"}
	if got != want {
		t.Errorf("fill = %+v, want %+v", got, want)
	}
}

// go install ...@v1.2.0 records the module version and no VCS settings.
func TestGoInstallGivesModuleVersion(t *testing.T) {
	got := fill(Info{}, &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}})
	if got.Version != "v1.2.0" || got.Commit != "" || got.Date != "" {
		t.Errorf("fill = %+v, want version v1.2.0 and nothing else", got)
	}
}

// go build in a checkout without stamps: (devel) or a pseudo-version, and
// the VCS settings.
func TestUnstampedCheckoutBuild(t *testing.T) {
	bi := &debug.BuildInfo{
		Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d1e2f"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	got := fill(Info{}, bi)
	if got.Version != "1a2b3c4d5e6f-dirty" || got.Commit != "1a2b3c4d5e6f7a8b9c0d1e2f" || got.Date != "2026-12-01T10:00:00Z" {
		t.Errorf("fill = %+v", got)
	}
}

func TestStringFormat(t *testing.T) {
	s := Info{Version: "v1.2.0", Commit: "1a2b3c4d5e6f7a8b9c0d", Date: "2026-12-02T02:22:39Z", Go: "go1.26.8"}.String()
	format := regexp.MustCompile(`^v1\.2\.0 \(commit 1a2b3c4d5e6f, built 2026-12-02T02:22:39Z, go1\.26\.8 [a-z0-9]+/[a-z0-9]+\)$`)
	if !format.MatchString(s) {
		t.Errorf("String() = %q, want it to match %s", s, format)
	}
	if s := (Info{Version: "unknown", Go: "go1.26.8"}).String(); !regexp.MustCompile(`^unknown \(go1\.26\.8 \S+\)$`).MatchString(s) {
		t.Errorf("String() without commit or date = %q", s)
	}
}

// Get never returns an empty version, stamped or not.
func TestGetHasAVersion(t *testing.T) {
	if v := Get().Version; v == "" {
		t.Error("Get().Version is empty")
	}
}
