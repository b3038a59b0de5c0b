package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnitVerifies runs systemd-analyze verify on an instance of the unit
// template. verify checks that ExecStart's program exists, so the copy
// under test runs this test binary instead of /usr/bin/clusterd, and it
// does not look for the man page (the package test installs that). verify
// exits 0 on a misspelt setting and only warns: any output fails the test.
func TestUnitVerifies(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	verifyUnit(t, strings.ReplaceAll(string(unit), "/usr/bin/clusterd", self))
}

// verifyUnit writes text as clusterd@.service and verifies its instance
// clusterd@web.service.
func verifyUnit(t *testing.T, text string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found (Debian package systemd): the unit is not verified")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clusterd@.service"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, "clusterd@web.service")).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify clusterd@web.service: %v\n%s", err, out)
	}
}

// TestUnitRunsTheAppFile: the instance name picks the app file, in the
// foreground, and the settings the unit's comments explain are there.
func TestUnitRunsTheAppFile(t *testing.T) {
	for _, line := range []string{
		"Type=notify",
		"ExecStart=/usr/bin/clusterd -c /etc/clusterd/%i.yml",
		"ExecReload=/usr/bin/clusterd reload --all --pid $MAINPID",
		"KillMode=mixed",
		"RuntimeDirectory=clusterd",
	} {
		if !bytes.Contains(unit, []byte("\n"+line+"\n")) {
			t.Errorf("clusterd@.service has no line %q", line)
		}
	}
}

func TestPackageVersion(t *testing.T) {
	for _, tc := range []struct{ describe, version, prerelease, metadata string }{
		{"v1.2.0", "1.2.0", "", ""},
		{"v1.2.0-rc1", "1.2.0", "rc1", ""},
		{"v1.2.0-dirty", "1.2.0", "", "dirty"},
		{"v1.2.0-3-g1a2b3c4", "1.2.0", "", "git3.1a2b3c4"},
		{"v1.2.0-rc1-3-g1a2b3c4-dirty", "1.2.0", "rc1", "git3.1a2b3c4.dirty"},
		{"1a2b3c4", "0.0.0", "", "git.1a2b3c4"},
		{"1a2b3c4-dirty", "0.0.0", "", "git.1a2b3c4.dirty"},
	} {
		v, p, m := packageVersion(tc.describe)
		if v != tc.version || p != tc.prerelease || m != tc.metadata {
			t.Errorf("packageVersion(%q) = %q, %q, %q, want %q, %q, %q", tc.describe, v, p, m, tc.version, tc.prerelease, tc.metadata)
		}
	}
}
