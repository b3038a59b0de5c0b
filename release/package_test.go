package main

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestDebInstalls builds the .deb for this machine's architecture as
// `make release` does, installs it with dpkg into an empty root, and runs
// the installed clusterd --version. The installed unit is verified against
// the installed binary.
func TestDebInstalls(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not found: the .deb is not tested here")
	}
	work := t.TempDir()
	exe := hostClusterd(t)
	docs, err := generateDocs("..", testStamps.version, exe, filepath.Join(work, "docs"))
	if err != nil {
		t.Fatal(err)
	}
	deb, err := buildPackage("deb", runtime.GOARCH, testStamps.version, exe, docs, work)
	if err != nil {
		t.Fatal(err)
	}

	root := filepath.Join(work, "root")
	for _, dir := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	install := exec.Command(dpkg, "--root="+root, "--log=/dev/null", "--force-not-root", "-i", deb)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("dpkg --root %s -i %s: %v\n%s", root, filepath.Base(deb), err, out)
	}
	status, err := exec.Command(dpkg, "--root="+root, "-s", "clusterd").CombinedOutput()
	if err != nil || !strings.Contains(string(status), "Status: install ok installed") ||
		!strings.Contains(string(status), "Version: 9.8.7+git3.1a2b3c4") {
		t.Fatalf("dpkg -s clusterd: %v\n%s", err, status)
	}

	installed := filepath.Join(root, "usr/bin/clusterd")
	out, err := exec.Command(installed, "--version").CombinedOutput()
	want := regexp.MustCompile(`^clusterd version v9\.8\.7-3-g1a2b3c4 \(commit 1a2b3c4d5e6f, built 2026-12-02T00:00:00Z, go\S+ linux/` + runtime.GOARCH + `\)\n$`)
	if err != nil || !want.Match(out) {
		t.Fatalf("installed clusterd --version: %v, printed %q, want it to match %s", err, out, want)
	}

	for _, file := range []string{
		"usr/share/bash-completion/completions/clusterd",
		"usr/share/zsh/vendor-completions/_clusterd",
		"usr/share/fish/vendor_completions.d/clusterd.fish",
		"etc/clusterd",
	} {
		if _, err := os.Stat(filepath.Join(root, file)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if page := manPage(t, filepath.Join(root, "usr/share/man/man1/clusterd.1.gz")); !strings.Contains(page, `.TH "CLUSTERD" "1"`) {
		t.Errorf("clusterd.1.gz is not a man page:\n%.200s", page)
	}
	unitText, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/clusterd@.service"))
	if err != nil {
		t.Fatal(err)
	}
	verifyUnit(t, strings.ReplaceAll(string(unitText), "/usr/bin/clusterd", installed))
}

// testStamps are the version stamps of the clusterd the tests build.
var testStamps = stamps{"v9.8.7-3-g1a2b3c4", "1a2b3c4d5e6f7a8b9c0d", "2026-12-02T00:00:00Z"}

var (
	hostBinaryOnce sync.Once
	hostBinary     string
	hostBinaryErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if hostBinary != "" {
		os.RemoveAll(filepath.Dir(hostBinary))
	}
	os.Exit(code)
}

// hostClusterd builds clusterd for this machine as make release does, once
// for all the tests of this run.
func hostClusterd(t *testing.T) string {
	t.Helper()
	hostBinaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clusterd-release-test-")
		if err != nil {
			hostBinaryErr = err
			return
		}
		hostBinary = filepath.Join(dir, "clusterd")
		hostBinaryErr = buildBinary("..", runtime.GOARCH, testStamps, hostBinary)
	})
	if hostBinaryErr != nil {
		t.Fatal(hostBinaryErr)
	}
	return hostBinary
}

func manPage(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
}
