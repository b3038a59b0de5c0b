package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPID1ReapsOrphans runs the master as PID 1 of a new PID namespace, as
// `docker run ... clusterd` does: an orphan that lands on it is reaped (no
// zombie is left), and SIGTERM stops the cluster gracefully with exit 0.
func TestPID1ReapsOrphans(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Getuid() != 0 {
		t.Skip("needs root and unshare(1) to make a PID namespace")
	}
	// The worker starts a grandchild in the background and lets its parent
	// exit at once: the grandchild is orphaned onto PID 1, the master. The
	// test kills it once it is there, and looks for its zombie.
	script := `sh -c 'sleep 61 &'; exec sleep 600`
	c := startCluster(t, clusterOptions{
		wrapper:   []string{unshare, "--pid", "--fork", "--kill-child=SIGTERM"},
		args:      []string{"-i", "1"},
		command:   []string{"/bin/sh", "-c", script},
		waitReady: true,
	})
	if st := c.status(); st.PID != 1 {
		t.Fatalf("the master's pid in its namespace is %d, want 1", st.PID)
	}
	master := childOf(t, c.cmd.Process.Pid)
	var orphan int
	waitFor(t, 10*time.Second, "the orphaned grandchild to land on the master", func() error {
		for _, pid := range childrenOf(master) {
			if cmdline(pid) == "sleep 61" {
				orphan = pid
				return nil
			}
		}
		return errNotYet
	})
	// PID 1 refuses to upgrade itself: its exit would end the namespace,
	// the workers and the new master with it.
	if code, out := run(t, 20*time.Second, "upgrade", "--control", c.control); code != 1 || !strings.Contains(out, "PID 1") {
		t.Errorf("upgrade as PID 1: exit %d, %q; want a refusal naming PID 1", code, out)
	}
	if st := c.status(); st.PID != 1 || st.Stopping {
		t.Fatalf("after the refused upgrade: pid %d, stopping %v", st.PID, st.Stopping)
	}
	syscall.Kill(orphan, syscall.SIGKILL)
	waitFor(t, 10*time.Second, "the orphan to be reaped", func() error {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", orphan)); err == nil {
			return fmt.Errorf("orphan %d still in the process table (state %s)", orphan, procState(orphan))
		}
		return nil
	})
	stopNamespaceMaster(t, c, master)
}

// stopNamespaceMaster stops a master that runs as PID 1 under unshare,
// which passes no SIGTERM on: the master gets it by its pid outside, and
// must stop gracefully (exit 0).
func stopNamespaceMaster(t *testing.T, c *cluster, master int) {
	t.Helper()
	syscall.Kill(master, syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the PID 1 master did not stop on SIGTERM")
	}
	if c.exitErr != nil {
		t.Fatalf("exit status through unshare: %v (want 0 after a graceful stop)", c.exitErr)
	}
}

func childOf(t *testing.T, pid int) int {
	var child int
	waitFor(t, 10*time.Second, "unshare's child", func() error {
		if kids := childrenOf(pid); len(kids) == 1 {
			child = kids[0]
			return nil
		}
		return errNotYet
	})
	return child
}

func childrenOf(pid int) []int {
	var kids []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(raw)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

func cmdline(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
}

func procState(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(raw)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return "?"
}

// TestPID1SeveralApps: as PID 1, the master of a config file's apps reaps
// every child, and an exit reaped by one app's loop reaches the app that
// owns the worker: a killed worker of the second app is replaced, and no
// zombie is left.
func TestPID1SeveralApps(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Getuid() != 0 {
		t.Skip("needs root and unshare(1) to make a PID namespace")
	}
	dir, runtimeDir := t.TempDir(), t.TempDir()
	path := writeConfig(t, dir, `
apps:
  - {name: first, cmd: /bin/sleep 601, no_listen: true, min_uptime: 100ms}
  - {name: second, cmd: /bin/sleep 602, no_listen: true, min_uptime: 100ms}
`)
	c := startCluster(t, clusterOptions{
		wrapper: []string{unshare, "--pid", "--fork", "--kill-child=SIGTERM"},
		config:  path, app: "first", runtimeDir: runtimeDir, waitReady: true,
	})
	second := appCluster(t, runtimeDir, "second", 1)
	master := childOf(t, c.cmd.Process.Pid)
	victim := 0
	for _, pid := range childrenOf(master) {
		if cmdline(pid) == "/bin/sleep 602" {
			victim = pid
		}
	}
	if victim == 0 {
		t.Fatalf("no worker of the second app among the master's children %v", childrenOf(master))
	}
	syscall.Kill(victim, syscall.SIGKILL)
	waitFor(t, 10*time.Second, "the second app to replace its killed worker", func() error {
		st := second.status()
		if len(st.Workers) != 1 || st.Workers[0].Restarts != 1 || st.Workers[0].State != "ready" {
			return fmt.Errorf("workers %+v", st.Workers)
		}
		return nil
	})
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", victim)); err == nil {
		t.Errorf("the killed worker %d is still in the process table (state %s)", victim, procState(victim))
	}
	if st := c.status(); st.Workers[0].Restarts != 0 {
		t.Errorf("the first app counts %d restarts; the exit was the second's", st.Workers[0].Restarts)
	}
	stopNamespaceMaster(t, c, master)
}

// TestUpgradeInAPIDNamespaceNamesTheNewMaster: a master that is not PID 1
// of its namespace may upgrade itself, and the pid it names for the new
// master (in its log and in MAINPID) is the namespace's number, not the
// host's that the namespace's kept /proc lists.
func TestUpgradeInAPIDNamespaceNamesTheNewMaster(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Getuid() != 0 {
		t.Skip("needs root and unshare(1) to make a PID namespace")
	}
	// sh is PID 1 and stays: its exit would end the namespace. Killing
	// unshare at the end kills sh (--kill-child), and the namespace with it.
	c := startCluster(t, clusterOptions{
		wrapper:   []string{unshare, "--pid", "--fork", "--kill-child=SIGKILL", "/bin/sh", "-c", `"$@"; exec sleep 600`, "sh"},
		args:      []string{"-i", "1"},
		command:   demoCommand(t),
		waitReady: true,
	})
	defer func() { c.cmd.Process.Kill(); <-c.exited }()
	old := c.status().PID
	if old == 1 {
		t.Fatal("the master is PID 1 of its namespace; sh was to be")
	}
	if code, out := run(t, 60*time.Second, "upgrade", "--control", c.control); code != 0 {
		t.Fatalf("upgrade: exit %d: %s", code, out)
	}
	var successor int
	waitFor(t, 20*time.Second, "the new master on the control socket", func() error {
		st, err := c.client.Status()
		if err != nil || st.PID == old {
			return errNotYet
		}
		successor = st.PID
		return nil
	})
	c.waitLogged("new_master_pid=", 1)
	_, rest, _ := strings.Cut(c.output.String(), "new_master_pid=")
	var logged int
	fmt.Sscanf(rest, "%d", &logged)
	if logged != successor {
		t.Errorf("the old master named the new one %d; it is %d in their namespace", logged, successor)
	}
}
