package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestVersionFlag builds clusterd the way `make build` stamps it and checks
// what --version prints.
func TestVersionFlag(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	if testing.Short() {
		t.Skip("builds a binary")
	}
	exe := filepath.Join(t.TempDir(), "clusterd")
	const pkg = "github.com/clusterd/clusterd/internal/version"
	ldflags := "-X " + pkg + ".Version=v1.2.0-3-g1a2b3c4-dirty -X " + pkg + ".Commit=1a2b3c4d5e6f7a8b9c0d -X " + pkg + ".Date=2026-12-02T02:22:39Z"
	build := exec.Command("go", "build", "-o", exe, "-ldflags", ldflags, ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`^clusterd version v1\.2\.0-3-g1a2b3c4-dirty \(commit 1a2b3c4d5e6f, built 2026-12-02T02:22:39Z, go\S+ \S+/\S+\)\n$`)
	for _, flag := range []string{"--version", "-v"} {
		out, err := exec.Command(exe, flag).CombinedOutput()
		if err != nil {
			t.Fatalf("clusterd %s: %v\n%s", flag, err, out)
		}
		if !want.Match(out) {
			t.Errorf("clusterd %s printed %q, want it to match %s", flag, out, want)
		}
	}
}
