package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/internal/proctest"
)

// TestStatusUsageAndMonit: status shows each worker's CPU and memory, and
// monit redraws that table in place until Ctrl-C, then exits 0.
func TestStatusUsageAndMonit(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{args: []string{"-i", "2"}, command: demoCommand(t), waitReady: true})
	code, out := run(t, 20*time.Second, "status", "--json", "--usage", "--control", c.control)
	var st control.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status --json: exit %d: %s", code, out)
	}
	for _, w := range slotWorkers(&st) {
		if w.RSSBytes <= 0 {
			t.Errorf("slot %d: no memory figure", w.Slot)
		}
	}
	if code, out := run(t, 20*time.Second, "status", "--control", c.control); code != 0 || !strings.Contains(out, "CPU") || !strings.Contains(out, "MiB") {
		t.Errorf("status table lacks CPU and memory: %s", out)
	}

	monit := exec.Command(bin(t), "monit", "--interval", "100ms", "--control", c.control)
	monit.Env = tagEnv(t)
	var screen proctest.Buffer
	monit.Stdout = &screen
	if err := monit.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- monit.Wait() }()
	t.Cleanup(func() { monit.Process.Kill() })
	waitFor(t, 10*time.Second, "two frames of monit", func() error {
		if strings.Count(screen.String(), "\x1b[H") < 2 {
			return errNotYet
		}
		return nil
	})
	monit.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("monit after Ctrl-C: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("monit did not quit on Ctrl-C")
	}
	if !strings.Contains(screen.String(), "SLOT") || !strings.Contains(screen.String(), "Ctrl-C quits") {
		t.Errorf("monit did not draw the table: %q", screen.String())
	}
}
