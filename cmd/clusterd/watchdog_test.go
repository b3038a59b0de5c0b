package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestWatchdogReplacesHungWorker: with --watchdog each worker gets
// WATCHDOG_USEC (and WATCHDOG_PID, its own pid) and must ping; a healthy
// demo worker is left alone for several periods, and one that hangs
// (/hang stops its pings) is killed and replaced within two periods.
func TestWatchdogReplacesHungWorker(t *testing.T) {
	const period = 500 * time.Millisecond
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "1", "--wait-ready", "--watchdog", "500ms", "--kill-timeout", "2s"}, command: demoCommand(t), waitReady: true,
	})
	pid := c.waitAllReady()[0]
	if env := procEnv(t, pid); env["WATCHDOG_USEC"] != "500000" || env["WATCHDOG_PID"] != fmt.Sprint(pid) {
		t.Fatalf("worker watchdog variables: USEC=%q PID=%q", env["WATCHDOG_USEC"], env["WATCHDOG_PID"])
	}
	waitFor(t, 10*time.Second, "the worker to live three watchdog periods", func() error {
		w := slotWorkers(c.status())[0]
		if w.PID != pid {
			t.Fatalf("a healthy worker was replaced: %d -> %d\n%s", pid, w.PID, c.output)
		}
		if time.Duration(w.Uptime) < 3*period {
			return errNotYet
		}
		return nil
	})
	hung := time.Now()
	go func() {
		// /hang never answers; the request ends when the worker dies.
		client := &http.Client{Timeout: 10 * time.Second}
		if resp, err := client.Get("http://" + c.addr() + "/hang"); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, 10*time.Second, "the hung worker to be replaced", func() error {
		w := slotWorkers(c.status())[0]
		if w.PID == pid || w.State != "ready" {
			return errNotYet
		}
		return nil
	})
	out := c.output.String()
	if !strings.Contains(out, fmt.Sprintf(`msg="worker missed its watchdog: SIGABRT" slot=0 pid=%d`, pid)) {
		t.Fatalf("the watchdog kill is not logged for pid %d", pid)
	}
	took := time.Since(hung)
	t.Logf("hung worker replaced %s after /hang (watchdog %s)", took.Round(time.Millisecond), period)
	// Detection is due one period after the last ping, at most; the
	// replacement's start comes on top. Allow generously for -race.
	if took > 2*period+2*time.Second {
		t.Errorf("replacement took %s, want about two watchdog periods", took)
	}
}
