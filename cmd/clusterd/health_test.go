package main

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHealthCheckReplacesSickWorker: with --health-check every worker also
// gets a private socket named "health"; the demo serves it unchanged. The
// worker whose /health starts failing (/sick) is replaced by a rolling
// restart with no failed request under load, and the healthy one is never
// touched.
func TestHealthCheckReplacesSickWorker(t *testing.T) {
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "2", "--wait-ready", "--health-check", "/health", "--health-interval", "200ms",
			"--health-failures", "2", "--health-timeout", "1s"},
		command: demoCommand(t), waitReady: true,
	})
	before := c.waitAllReady()
	if env := procEnv(t, before[0]); env["LISTEN_FDNAMES"] != "listen0:health" || env["LISTEN_FDS"] != "2" {
		t.Fatalf("worker fds: LISTEN_FDS=%q LISTEN_FDNAMES=%q", env["LISTEN_FDS"], env["LISTEN_FDNAMES"])
	}
	l := startLoad(t, c.addr(), true)
	l.waitAnswered(t, 500)
	// Several probe rounds on healthy workers change nothing.
	waitFor(t, 10*time.Second, "five probe intervals", func() error {
		if time.Duration(slotWorkers(c.status())[0].Uptime) < time.Second {
			return errNotYet
		}
		return nil
	})
	if now := c.waitAllReady(); now[0] != before[0] || now[1] != before[1] {
		t.Fatalf("healthy workers were replaced: %v -> %v", before, now)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + c.addr() + "/sick")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sick, _ := strconv.Atoi(resp.Header.Get("X-Worker-Pid"))
	healthy := before[0]
	if healthy == sick {
		healthy = before[1]
	}
	waitFor(t, 20*time.Second, "the sick worker to be replaced", func() error {
		pids, err := c.readyPIDs()
		if err != nil {
			return err
		}
		for _, pid := range pids {
			if pid == sick {
				return errNotYet
			}
		}
		return nil
	})
	l.waitAnswered(t, 500)
	l.finish(t)
	now := c.waitAllReady()
	if now[0] != healthy && now[1] != healthy {
		t.Errorf("the healthy worker %d was replaced too: %v", healthy, now)
	}
	out := c.output.String()
	if !strings.Contains(out, `reason=health`) || !strings.Contains(out, "status 503") {
		t.Errorf("the replacement is not logged with the probe's status")
	}
	total := 0
	for _, w := range slotWorkers(c.status()) {
		total += w.HealthRestarts
	}
	if total != 1 {
		t.Errorf("health restarts in status = %d, want 1", total)
	}
}

// TestReadyOnHealth: a worker that cannot send READY=1 is made ready by
// its first passing health probe.
func TestReadyOnHealth(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	python := lookPython(t)
	script, _ := filepath.Abs("testdata/no_ready_worker.py")
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "1", "--wait-ready", "--ready-on-health", "--health-check", "/health",
			"--listen-timeout", "10s"},
		command: []string{python, script}, waitReady: true,
	})
	c.waitLogged(`by="health check passed"`, 1)
}
