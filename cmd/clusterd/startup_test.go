package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartupSystemdUnit: the generated unit carries the master's command
// line, reloads through `clusterd reload`, lets the master drain its
// workers (KillMode=mixed, a stop timeout above the kill timeout), and
// passes systemd-analyze verify where that tool exists.
func TestStartupSystemdUnit(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	code, unit := run(t, 20*time.Second, "startup", "systemd", "--name", "api", "-i", "4", "--kill-timeout", "20s", "--", "/bin/sleep", "600")
	if code != 0 {
		t.Fatalf("startup: exit %d: %s", code, unit)
	}
	for _, want := range []string{
		"Type=notify", "KillMode=mixed", "TimeoutStopSec=30",
		"ExecStart=" + bin(t) + " --control /run/clusterd/api.sock --name api -i 4 --kill-timeout 20s -- /bin/sleep 600",
		"ExecReload=" + bin(t) + " reload --control /run/clusterd/api.sock",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if code, out := run(t, 20*time.Second, "startup", "systemd", "-i", "lots", "--", "x"); code != 2 || !strings.Contains(out, "lots") {
		t.Errorf("startup with a bad flag: exit %d %q, want exit 2 naming it", code, out)
	}
	verifyUnit(t, "clusterd-api.service", unit)
}

// verifyUnit runs systemd-analyze verify on unit, where that tool exists.
func verifyUnit(t *testing.T, name, unit string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: unit not verified")
	}
	path := filepath.Join(t.TempDir(), name)
	os.WriteFile(path, []byte(unit), 0o644)
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestStartupSystemdUnitForConfigFile: for a config file the unit runs
// clusterd -c with the file's absolute path, reloads every app of its
// process (found by $MAINPID), and
// stops after the longest kill timeout; a broken file fails now, not at
// boot.
func TestStartupSystemdUnitForConfigFile(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	dir := t.TempDir()
	path := writeConfig(t, dir, "apps:\n  - {name: web, cmd: /bin/sleep 600, kill_timeout: 40s}\n  - {name: api, cmd: /bin/sleep 600}\n")
	code, unit := run(t, 20*time.Second, "startup", "systemd", "-c", path, "--env", "production")
	if code == 0 {
		t.Errorf("startup -c with no env_production: exit 0, want the file's error:\n%s", unit)
	}
	code, unit = run(t, 20*time.Second, "startup", "systemd", "-c", path)
	if code != 0 {
		t.Fatalf("startup -c: exit %d: %s", code, unit)
	}
	for _, want := range []string{
		"ExecStart=" + bin(t) + " -c " + path + "\n",
		"ExecReload=" + bin(t) + " reload --all --pid $MAINPID\n",
		"TimeoutStopSec=50",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	verifyUnit(t, "clusterd-apps.service", unit)
}
