package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMemoryLimitRollingRestart: a worker whose RSS stays above
// --max-memory-restart is replaced by a rolling restart (its successor is
// ready before it is stopped), so under load not one request fails, and
// the replacement is logged and counted in status.
func TestMemoryLimitRollingRestart(t *testing.T) {
	c := startCluster(t, clusterOptions{
		// A long kill timeout: the fat worker drains its 600 MB request, however slow a loaded machine makes it.
		args:    []string{"-i", "1", "--wait-ready", "--max-memory-restart", "400M", "--kill-timeout", "60s"},
		command: demoCommand(t), waitReady: true,
	})
	fat := c.waitAllReady()[0]
	l := startLoad(t, c.addr(), true)
	l.waitAnswered(t, 500)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + c.addr() + "/alloc?mb=600")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, 30*time.Second, "the worker over its memory limit to be replaced", func() error {
		w := slotWorkers(c.status())[0]
		if w.PID == fat || w.State != "ready" || w.MemoryRestarts != 1 {
			return errNotYet
		}
		return nil
	})
	l.waitAnswered(t, 500)
	l.finish(t)
	c.waitLogged(`msg="replacing a worker, successor first"`, 1)
	c.waitLogged("reason=memory", 1)
	if strings.Contains(c.output.String(), "worker crashed") {
		t.Errorf("the fat worker was killed, not drained")
	}
}
