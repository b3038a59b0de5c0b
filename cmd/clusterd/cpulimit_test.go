package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInstancesMaxHonoursCPUQuota runs a master in a real cgroup whose CPU
// quota is one CPU: -i max starts one worker, whatever the machine has.
// internal/cpulimit's tests cover the file formats; this shows the kernel's
// files are read, on whichever of v1 or v2 this machine mounts.
func TestInstancesMaxHonoursCPUQuota(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	dir := quotaCgroup(t, 1)
	c := startCluster(t, clusterOptions{
		wrapper:   []string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir},
		args:      []string{"-i", "max"},
		command:   demoCommand(t),
		waitReady: true,
	})
	if n := len(slotWorkers(c.status())); n != 1 {
		t.Fatalf("-i max in a cgroup limited to one CPU started %d workers, want 1", n)
	}
}

// quotaCgroup makes a cgroup limited to cpus CPUs and removes it when the
// test ends, or skips the test where it cannot (not root, no writable cpu
// controller).
func quotaCgroup(t *testing.T, cpus int) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to make a cgroup")
	}
	name := fmt.Sprintf("clusterd-test-%d", os.Getpid())
	var dir, file, quota string
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err == nil {
		dir, file, quota = filepath.Join("/sys/fs/cgroup/cpu", name), "cpu.cfs_quota_us", fmt.Sprint(cpus*100000)
	} else {
		dir, file, quota = filepath.Join("/sys/fs/cgroup", name), "cpu.max", fmt.Sprintf("%d 100000", cpus*100000)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	t.Cleanup(func() {
		// The cluster's own cleanup (registered later) has ended its
		// processes; the kernel lets the empty cgroup go a moment after.
		deadline := time.Now().Add(5 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, file), []byte(quota), 0o644); err != nil {
		t.Skipf("cannot set a CPU quota (%s): %v", file, err)
	}
	return dir
}
