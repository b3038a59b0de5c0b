package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWatchReloadsOncePerBurst: with --watch, a burst of saves is one
// ready-gated rolling reload with no failed request under load; a save
// that breaks the program aborts that reload, is reported, and leaves the
// old workers serving; files in ignored places change nothing.
func TestWatchReloadsOncePerBurst(t *testing.T) {
	rel := newRelease(t)
	dir := filepath.Dir(rel.path)
	rel.deploy(fmt.Sprintf("exec %q demo", bin(t)))
	os.Mkdir(filepath.Join(dir, "node_modules"), 0o755)
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "2", "--wait-ready", "--watch=" + dir, "--watch-delay", "300ms", "--listen-timeout", "3s"},
		command: []string{rel.path}, waitReady: true,
	})
	before := c.waitAllReady()
	l := startLoad(t, c.addr(), true)
	l.waitAnswered(t, 500)

	// Ignored: never a reload.
	os.WriteFile(filepath.Join(dir, "node_modules", "dep.js"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "server.log"), []byte("x"), 0o644)
	// A burst of five saves of the program.
	for i := range 5 {
		rel.deploy(fmt.Sprintf("# save %d\nexec %q demo", i, bin(t)))
	}
	waitFor(t, 30*time.Second, "the reload after the burst", func() error {
		st := c.status()
		if st.Reload.Last == nil || st.Reload.InProgress {
			return errNotYet
		}
		return nil
	})
	after := c.waitAllReady()
	for _, pid := range after {
		if slices.Contains(before, pid) {
			t.Fatalf("the watch reload kept worker %d", pid)
		}
	}
	// A subdirectory created after the start is watched too; then a
	// broken save: the reload aborts, the workers stay.
	sub := filepath.Join(dir, "lib")
	os.Mkdir(sub, 0o755)
	waitFor(t, 30*time.Second, "the reload after a new directory", func() error {
		if st := c.status(); st.Reload.Last == nil || st.Reload.Last.Generation < 3 || st.Reload.InProgress {
			return errNotYet
		}
		return nil
	})
	os.WriteFile(filepath.Join(sub, "util.js"), []byte("x"), 0o644)
	waitFor(t, 30*time.Second, "the reload after a save inside the new directory", func() error {
		if st := c.status(); st.Reload.Last == nil || st.Reload.Last.Generation < 4 || st.Reload.InProgress {
			return errNotYet
		}
		return nil
	})
	stable := c.waitAllReady()
	rel.deploy("echo 'syntax error' >&2; exit 3")
	waitFor(t, 30*time.Second, "the broken save's reload to abort", func() error {
		if !strings.Contains(c.output.String(), "watch mode: the reload after a change was aborted") {
			return errNotYet
		}
		return nil
	})
	if now := c.waitAllReady(); !slices.Equal(now, stable) {
		t.Fatalf("a broken save replaced workers %v with %v", stable, now)
	}
	l.waitAnswered(t, 500)
	l.finish(t)
	if n := strings.Count(c.output.String(), "watch mode: files changed, rolling reload"); n != 4 {
		t.Errorf("want 4 watch reloads (burst, new directory, a save in it, broken save), got %d:\n%s", n, c.output)
	}
}

// TestWatchPollReloads: with --watch-poll the master watches without
// inotify (what network and container file systems need), with the depth
// and write-finish options: a save reloads, a change deeper than
// --watch-depth does not.
func TestWatchPollReloads(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	rel := newRelease(t)
	dir := filepath.Dir(rel.path)
	rel.deploy(fmt.Sprintf("exec %q demo", bin(t)))
	deep := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "1", "--wait-ready", "--watch=" + dir, "--watch-poll", "--watch-poll-interval", "50ms",
			"--watch-depth", "1", "--watch-await-write", "100ms", "--watch-delay", "100ms", "--listen-timeout", "3s"},
		command: []string{rel.path}, waitReady: true,
	})
	before := c.waitAllReady()
	os.WriteFile(filepath.Join(deep, "deep.js"), []byte("x"), 0o644) // level 2: not watched
	rel.deploy(fmt.Sprintf("# save\nexec %q demo", bin(t)))
	waitFor(t, 30*time.Second, "the reload after the save", func() error {
		if st := c.status(); st.Reload.Last == nil || st.Reload.InProgress {
			return errNotYet
		}
		return nil
	})
	if after := c.waitAllReady(); slices.Equal(after, before) {
		t.Fatalf("the polled save kept worker %v", before)
	}
	waitFor(t, 10*time.Second, "the reload's log line", func() error {
		if !strings.Contains(c.output.String(), "watch mode: files changed, rolling reload") {
			return errNotYet
		}
		return nil
	})
	if out := c.output.String(); strings.Contains(out, "deep.js") {
		t.Errorf("a change below --watch-depth was seen:\n%s", out)
	}
}
