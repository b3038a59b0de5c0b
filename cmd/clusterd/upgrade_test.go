package main

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listeningSockets are the inodes of the TCP listening sockets pid holds.
func listeningSockets(t *testing.T, pid int) []string {
	var out []string
	for _, ino := range socketInodes(t, pid) {
		if slices.Contains(listeningInodes(t, pid), ino) && !slices.Contains(out, ino) {
			out = append(out, ino)
		}
	}
	slices.Sort(out)
	return out
}

// TestUpgradeUnderLoad: `clusterd upgrade` replaces the master with the
// binary on disk under load, keep-alive and connection-close, failing not
// one request; the listening sockets are the very same (same inodes); the
// pidfile and the control socket follow the new master; the old master
// drains its workers and exits 0.
func TestUpgradeUnderLoad(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		name := map[bool]string{true: "keep-alive", false: "connection-close"}[keepAlive]
		t.Run(name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "clusterd.pid")
			c := startCluster(t, clusterOptions{
				args:    []string{"-i", "2", "--wait-ready", "--reuseport", "--pidfile", pidfile},
				command: demoCommand(t), waitReady: true,
			})
			oldPID := c.cmd.Process.Pid
			oldWorkers := c.waitAllReady()
			sockets := listeningSockets(t, oldPID)
			if len(sockets) != 2 {
				t.Fatalf("want two reuseport sockets, got %v", sockets)
			}
			l := startLoad(t, c.addr(), keepAlive)
			l.waitAnswered(t, 500)
			if code, out := run(t, 60*time.Second, "upgrade", "--control", c.control); code != 0 || !strings.Contains(out, "upgraded") {
				t.Fatalf("clusterd upgrade: exit %d: %s", code, out)
			}
			select {
			case <-c.exited:
			case <-time.After(20 * time.Second):
				t.Fatal("the old master did not exit after the upgrade")
			}
			// The new master inherited the old one's output pipe, so Wait
			// reports its I/O; the exit status is what counts here.
			if code := c.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("old master exited %d (%v), want 0", code, c.exitErr)
			}
			st := c.status()
			if st.PID == oldPID {
				t.Fatalf("the control socket still answers for the old master")
			}
			if raw, _ := os.ReadFile(pidfile); strings.TrimSpace(string(raw)) != strconv.Itoa(st.PID) {
				t.Errorf("pidfile says %q, want the new master %d", raw, st.PID)
			}
			// So does its link in the per-user directory.
			if to, err := os.Readlink(filepath.Join(c.runtimeDir, "clusterd", "default.sock")); err != nil || to != c.control {
				t.Errorf("after the upgrade the per-user link leads to %q (%v), want %s", to, err, c.control)
			}
			if got := listeningSockets(t, st.PID); !slices.Equal(got, sockets) {
				t.Errorf("listening sockets changed across the upgrade: %v -> %v", sockets, got)
			}
			for _, pid := range c.waitAllReady() {
				if slices.Contains(oldWorkers, pid) {
					t.Errorf("the new master kept old worker %d", pid)
				}
			}
			l.waitAnswered(t, 500)
			l.finish(t)
			if !strings.Contains(c.output.String(), "upgrade succeeded") {
				t.Errorf("the upgrade is not logged")
			}
		})
	}
}

// TestUpgradeFailureKeepsOldMaster: a new binary that exits at once, and
// one that never becomes ready, each fail the upgrade with a clear reason;
// the old master and its workers keep serving without a failed request,
// and a second upgrade during one in flight is refused.
func TestUpgradeFailureKeepsOldMaster(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "clusterd")
	raw, err := os.ReadFile(bin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(binary, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, clusterOptions{
		binary:  binary,
		args:    []string{"-i", "2", "--wait-ready", "--upgrade-timeout", "2s"},
		command: demoCommand(t), waitReady: true,
	})
	oldPID := c.cmd.Process.Pid
	workers := c.waitAllReady()
	l := startLoad(t, c.addr(), true)
	l.waitAnswered(t, 500)
	deploy := func(script string) {
		os.WriteFile(binary+".new", []byte("#!/bin/sh\n"+script+"\n"), 0o755)
		if err := os.Rename(binary+".new", binary); err != nil {
			t.Fatal(err)
		}
	}

	deploy("echo 'broken build' >&2; exit 3")
	code, out := run(t, 30*time.Second, "upgrade", "--control", c.control)
	if code != 1 || !strings.Contains(out, "upgrade failed, this master keeps serving") || !strings.Contains(out, "exited") {
		t.Fatalf("upgrade to a binary that exits: exit %d, %q", code, out)
	}

	deploy("exec sleep 600")
	second := make(chan string, 1)
	go func() {
		_, out := run(t, 30*time.Second, "upgrade", "--control", c.control)
		second <- out
	}()
	waitFor(t, 10*time.Second, "the hung upgrade to be in flight", func() error {
		if !strings.Contains(c.output.String(), "starting the new binary") || strings.Count(c.output.String(), "starting the new binary") < 2 {
			return errNotYet
		}
		return nil
	})
	if code, out := run(t, 30*time.Second, "upgrade", "--control", c.control); code != 1 || !strings.Contains(out, "already in progress") {
		t.Errorf("a second upgrade in flight: exit %d, %q; want it refused", code, out)
	}
	if out := <-second; !strings.Contains(out, "timed out") {
		t.Fatalf("upgrade to a binary that never gets ready: %q, want a timeout", out)
	}
	l.waitAnswered(t, 500)
	l.finish(t)
	st := c.status()
	if st.PID != oldPID {
		t.Fatalf("the control socket answers for pid %d, not the old master %d", st.PID, oldPID)
	}
	if now := c.waitAllReady(); !slices.Equal(now, workers) {
		t.Fatalf("the old master's workers changed: %v -> %v", workers, now)
	}
	if _, err := os.Stat(c.control); err != nil {
		t.Fatalf("a failed new master removed the control socket: %v", err)
	}
	if to, err := os.Readlink(filepath.Join(c.runtimeDir, "clusterd", "default.sock")); err != nil || to != c.control {
		t.Fatalf("a failed new master took the per-user link: it leads to %q (%v), want %s", to, err, c.control)
	}
}

// TestStopDuringUpgradeWaitsForIt: SIGTERM while the new master is
// starting waits for the upgrade's end. The upgrade completes, the old
// master retires, and the new one serves on with its control socket where
// it was: the stop no longer orphans the new master nor removes the paths
// it now serves.
func TestStopDuringUpgradeWaitsForIt(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	dir := t.TempDir()
	binary, real := filepath.Join(dir, "clusterd"), filepath.Join(dir, "clusterd.real")
	raw, err := os.ReadFile(bin(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{binary, real} {
		if err := os.WriteFile(p, raw, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := startCluster(t, clusterOptions{
		binary:  binary,
		args:    []string{"-i", "1", "--wait-ready"},
		command: demoCommand(t), waitReady: true,
	})
	oldPID := c.cmd.Process.Pid
	// The new binary takes a second before it starts: time for a SIGTERM.
	os.WriteFile(binary+".new", []byte("#!/bin/sh\nsleep 1\nexec "+real+" \"$@\"\n"), 0o755)
	if err := os.Rename(binary+".new", binary); err != nil {
		t.Fatal(err)
	}
	upgraded := make(chan string, 1)
	go func() {
		code, out := run(t, 30*time.Second, "upgrade", "--control", c.control)
		upgraded <- strconv.Itoa(code) + " " + out
	}()
	waitFor(t, 10*time.Second, "the upgrade to be in flight", func() error {
		if !strings.Contains(c.output.String(), "starting the new binary") {
			return errNotYet
		}
		return nil
	})
	c.cmd.Process.Signal(os.Interrupt) // SIGINT, as Ctrl-C; SIGTERM takes the same path
	if out := <-upgraded; !strings.HasPrefix(out, "0 ") {
		t.Fatalf("the upgrade with a stop during it: %s", out)
	}
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the old master did not exit after the upgrade")
	}
	st := c.status()
	if st.PID == oldPID {
		t.Fatalf("the old master %d still answers", oldPID)
	}
	if _, err := os.Stat(c.control); err != nil {
		t.Fatalf("the control socket is gone after the upgrade: %v", err)
	}
	getBody(t, "http://"+c.addr()+"/", http.StatusOK)
}
