package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWrapperWorkerStopsWithItsServer: a worker that is a wrapper (here
// `sh -c "clusterd demo; true"`, as npm start and shell scripts are) has
// the server as its child. A reload under load retires the old server with
// its wrapper, not one request fails, and a stop leaves nothing serving:
// the address is free for the next master.
func TestWrapperWorkerStopsWithItsServer(t *testing.T) {
	script := fmt.Sprintf("%q demo; true", bin(t))
	c := startCluster(t, clusterOptions{
		args:      []string{"-i", "1", "--wait-ready"},
		command:   []string{"/bin/sh", "-c", script},
		waitReady: true,
	})
	wrapper := c.waitAllReady()[0]
	server := 0
	waitFor(t, 10*time.Second, "the wrapper's server", func() error {
		if kids := childrenOf(wrapper); len(kids) == 1 {
			server = kids[0]
			return nil
		}
		return errNotYet
	})
	addr := c.addr()
	l := startLoad(t, addr, true)
	l.waitAnswered(t, 300)
	reloadUntilGone(t, c, server, "the old wrapper's server")
	l.waitAnswered(t, 300)
	l.finish(t) // fails the test on any failed or unanswered request
	newWrapper := c.waitAllReady()[0]
	newServer := childrenOf(newWrapper)
	syscall.Kill(c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the master did not stop within 20s of SIGTERM")
	}
	for _, pid := range append(newServer, newWrapper) {
		if alive(pid) {
			t.Errorf("process %d of the worker's tree outlived the master's stop", pid)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the address is still taken after the stop: %v", err)
	}
	ln.Close()
	if out := c.output.String(); strings.Contains(out, "worker crashed") {
		t.Errorf("a retired wrapper was counted as a crash:\n%s", out)
	}
}

// TestLeftoversOfAKilledMasterAreStopped: SIGKILL of the master kills its
// workers (parent-death signal) but not what a wrapper worker started; the
// next master of the same app stops those leftovers before it binds, so it
// starts on the same address instead of failing with "address in use".
func TestLeftoversOfAKilledMasterAreStopped(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	control := filepath.Join(t.TempDir(), "app.sock")
	opts := clusterOptions{
		args:        []string{"-i", "1", "--wait-ready", "-l", addr},
		controlPath: control,
		command:     []string{"/bin/sh", "-c", fmt.Sprintf("%q demo; true", bin(t))},
		waitReady:   true,
	}
	first := startCluster(t, opts)
	wrapper := first.waitAllReady()[0]
	var server int
	waitFor(t, 10*time.Second, "the wrapper's server", func() error {
		if kids := childrenOf(wrapper); len(kids) == 1 {
			server = kids[0]
			return nil
		}
		return errNotYet
	})
	first.cmd.Process.Kill()
	<-first.exited
	waitFor(t, 10*time.Second, "the wrapper to die with its master", func() error {
		if alive(wrapper) {
			return errNotYet
		}
		return nil
	})
	if !alive(server) {
		t.Skip("the server died with its wrapper here: nothing was left to stop")
	}
	second := startCluster(t, opts)
	second.waitAllReady()
	if alive(server) {
		t.Errorf("the killed master's leftover server %d still runs", server)
	}
	// With a cgroup per worker the new process empties the killed master's
	// cgroups first; without, the app finds its leftovers by their pids.
	if out := second.output.String(); !strings.Contains(out, "stopped processes left by a master of this app that was killed") &&
		!strings.Contains(out, "killed what a master that died had left running") {
		t.Errorf("the new master did not say it stopped leftovers:\n%s", second.output)
	}
}

// TestStaleControlSocketIsNamed: a master killed with SIGKILL leaves its
// control socket behind. The commands that look for every master say it
// was stale and remove it, instead of failing on it as if its app ran.
func TestStaleControlSocketIsNamed(t *testing.T) {
	dir, runtimeDir := t.TempDir(), t.TempDir()
	path := writeConfig(t, dir, "apps:\n  - name: web\n    cmd: [%[1]q, demo]\n    listen: 127.0.0.1:0\n    wait_ready: true\n")
	c := startCluster(t, clusterOptions{config: path, app: "web", runtimeDir: runtimeDir, waitReady: true})
	c.cmd.Process.Kill()
	<-c.exited
	sock := filepath.Join(runtimeDir, "clusterd", "web.sock")
	if _, err := os.Stat(sock); err != nil {
		t.Skip("the killed master left no socket to test with")
	}
	code, out := runIn(t, runtimeDir, "status")
	if code != 1 || !strings.Contains(out, "stale") || strings.Contains(out, "web: master pid") {
		t.Errorf("status with a stale socket: exit %d, %q; want exit 1 naming it stale", code, out)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("the stale socket is still there")
	}
}

// TestWhatLeftTheGroupStopsWithItsWorker: a worker's child that leaves the
// worker's process group (setsid, as a daemon does) is still in the
// worker's cgroup: a reload ends it with the worker it belongs to, and a
// master killed with SIGKILL leaves it to the next master started beside
// it, of any app, which kills it.
func TestWhatLeftTheGroupStopsWithItsWorker(t *testing.T) {
	script := fmt.Sprintf("setsid sleep 600 & echo daemon=$!; exec %q demo", bin(t))
	opts := clusterOptions{
		args:      []string{"-i", "1", "--wait-ready"},
		command:   []string{"/bin/sh", "-c", script},
		waitReady: true,
	}
	c := startCluster(t, opts)
	if out := c.output.String(); strings.Contains(out, "no cgroup per worker") {
		t.Skipf("no cgroup per worker here: %s", out[strings.Index(out, "no cgroup per worker"):][:200])
	}
	daemon := func(nth int) int {
		var pid int
		waitFor(t, 10*time.Second, "the worker to say its daemon's pid", func() error {
			_, rest, _ := strings.Cut(c.output.String(), "daemon=")
			for range nth {
				_, rest, _ = strings.Cut(rest, "daemon=")
			}
			if _, err := fmt.Sscanf(rest, "%d", &pid); err != nil {
				return errNotYet
			}
			return nil
		})
		return pid
	}
	first := daemon(0)
	if !alive(first) {
		t.Fatalf("the daemon %d is not running", first)
	}
	reloadUntilGone(t, c, first, "the replaced worker's daemon")
	second := daemon(1)
	c.cmd.Process.Kill()
	<-c.exited
	if !alive(second) {
		t.Fatalf("the daemon %d died with its master: the test shows nothing", second)
	}
	other := startCluster(t, clusterOptions{args: []string{"-i", "1", "--no-listen"}, ownListen: true, command: []string{"/bin/sleep", "600"}})
	if alive(second) {
		t.Errorf("the daemon %d left by the killed master still runs", second)
	}
	other.waitLogged("killed what a master that died had left running", 1)
}

// reloadUntilGone reloads c and waits for pid, a process of a replaced
// worker's tree, to be gone.
func reloadUntilGone(t *testing.T, c *cluster, pid int, what string) {
	t.Helper()
	if code, out := run(t, 60*time.Second, "reload", "--control", c.control); code != 0 {
		t.Fatalf("reload: exit %d: %s", code, out)
	}
	waitFor(t, 15*time.Second, what+" to stop", func() error {
		if alive(pid) {
			return fmt.Errorf("%s (pid %d) still runs", what, pid)
		}
		return nil
	})
}
