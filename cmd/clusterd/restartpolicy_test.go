package main

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNoAutorestart: with --no-autorestart (PM2's autorestart: false) a
// worker that exits is not replaced, and when none is left the master
// exits with the last worker's exit code.
func TestNoAutorestart(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "2", "--no-autorestart"},
		command: []string{"/bin/sh", "-c", "sleep 1; exit 7"},
	})
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the master did not exit when no worker was left")
	}
	var exitErr *exec.ExitError
	if !errors.As(c.exitErr, &exitErr) || exitErr.ExitCode() != 7 {
		t.Fatalf("master exit: %v, want exit code 7 (the last worker's)", c.exitErr)
	}
	if n := strings.Count(c.output.String(), "worker exited and is not restarted"); n != 2 {
		t.Errorf("want two 'not restarted' lines, got %d", n)
	}
	if strings.Contains(c.output.String(), "worker failed to start") {
		t.Errorf("an exit under --no-autorestart was treated as a failed start")
	}
}

// TestStopExitCodes: an exit code listed in --stop-exit-codes (PM2's
// stop_exit_codes) means stopped on purpose: that slot stays stopped,
// while any other death is still replaced.
func TestStopExitCodes(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	script := `if [ "$CLUSTERD_SLOT" = 0 ]; then sleep 0.2; exit 0; fi; exec sleep 600`
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "2", "--stop-exit-codes", "0,64", "--min-uptime", "100ms"},
		command: []string{"/bin/sh", "-c", script},
	})
	waitFor(t, 10*time.Second, "slot 0 to be stopped", func() error {
		if w := slotWorkers(c.status())[0]; w.State != "stopped" {
			return fmt.Errorf("slot 0 is %s", w.State)
		}
		return nil
	})
	var victim int
	waitFor(t, 10*time.Second, "slot 1 to be ready", func() error {
		w := slotWorkers(c.status())[1]
		if w.State != "ready" {
			return fmt.Errorf("slot 1 is %s", w.State)
		}
		victim = w.PID
		return nil
	})
	syscall.Kill(victim, syscall.SIGKILL) // exit 137: not a stop exit code
	waitFor(t, 10*time.Second, "slot 1 to be replaced", func() error {
		w := slotWorkers(c.status())[1]
		if w.PID == victim || w.State != "ready" {
			return fmt.Errorf("slot 1 is %s pid %d", w.State, w.PID)
		}
		return nil
	})
	if w := slotWorkers(c.status())[0]; w.State != "stopped" || w.Restarts != 0 {
		t.Errorf("slot 0 after a stop exit code: %s with %d restarts, want stopped and 0", w.State, w.Restarts)
	}
	c.waitLogged("exit code 0 is a stop exit code", 1)
}
