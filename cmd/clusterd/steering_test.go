package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/listener"
)

// TestKilledWorkerUnderLoadLosesOnlyItsOwnConnections: with the default
// sockets (one steered SO_REUSEPORT socket per slot, or one shared socket
// where the kernel refuses steering), SIGKILL of a worker under
// connection-per-request load fails only the requests that worker had
// already accepted: nothing is refused, and every connection that was
// still queued is answered by the other worker or the replacement
// (docs/design.md §1, §10). The worker is stopped first so its accepted
// connections can be counted at the moment of the kill.
func TestKilledWorkerUnderLoadLosesOnlyItsOwnConnections(t *testing.T) {
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "2", "--wait-ready"}, command: demoCommand(t), waitReady: true,
	})
	want := string(listener.Steered)
	if err := listener.SteeringError(); err != nil {
		want = string(listener.Shared) + ": the kernel refuses steering: " + err.Error()
	}
	if st := c.status(); len(st.SocketModes) != 1 || st.SocketModes[0] != want {
		t.Fatalf("status socket modes %q, want [%q]", st.SocketModes, want)
	}
	if want != string(listener.Steered) {
		c.waitLogged("socket instead of one steered socket per worker", 1)
	}
	pids := c.waitAllReady()
	l := startLoad(t, c.addr(), false)
	l.waitAnswered(t, 500)

	syscall.Kill(pids[0], syscall.SIGSTOP)
	time.Sleep(20 * time.Millisecond) // let connections queue behind it
	accepted := tcpConnections(t, pids[0])
	syscall.Kill(pids[0], syscall.SIGKILL)
	waitFor(t, 10*time.Second, "the killed worker's replacement to be ready", func() error {
		now, err := c.readyPIDs()
		if err != nil {
			return err
		}
		if slices.Contains(now, pids[0]) {
			return fmt.Errorf("pid %d still listed", pids[0])
		}
		return nil
	})
	l.waitAnswered(t, 500)
	close(l.stop)
	<-l.done
	if l.err != nil {
		t.Fatal(l.err)
	}
	r := l.result
	t.Logf("load: %s; the killed worker held %d accepted connections", r, accepted)
	lost := r.Failed[load.FailRead] + r.Failed[load.FailWrite]
	if r.Failed[load.FailConnect] != 0 || r.Failed[load.FailTimeout] != 0 || r.Unanswered != 0 || lost > int64(accepted) ||
		r.FailedTotal() != lost+r.Failed[load.FailConnect]+r.Failed[load.FailTimeout] {
		t.Errorf("want no refused, timed-out or unanswered request and at most %d reset (the killed worker's own): %v %v, %d unanswered",
			accepted, r.Failed, r.FirstError, r.Unanswered)
	}
}

// tcpConnections counts pid's TCP sockets that are not listening: the
// connections it accepted and holds.
func tcpConnections(t *testing.T, pid int) int {
	t.Helper()
	states := map[string]string{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		raw, _ := os.ReadFile(file)
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			if f := strings.Fields(line); len(f) > 9 {
				states[f[9]] = f[3]
			}
		}
	}
	n := 0
	for _, ino := range socketInodes(t, pid) {
		if state, ok := states[ino]; ok && state != "0A" {
			n++
		}
	}
	return n
}
