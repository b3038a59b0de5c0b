package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBlockingPythonAndGoWorkersInOneMaster: a worker written for systemd's
// socket activation (a plain blocking accept loop on socket.socket(fileno=3))
// gets a blocking socket, as systemd gives it, while a Go worker of another
// app in the same master makes its own socket non-blocking. Both serve a
// connection per request and reload under that load with none failed.
func TestBlockingPythonAndGoWorkersInOneMaster(t *testing.T) {
	python := lookPython(t)
	script, _ := filepath.Abs("testdata/blocking_worker.py")
	dir, runtimeDir := t.TempDir(), t.TempDir()
	path := writeConfig(t, dir, fmt.Sprintf(`
apps:
  - name: py
    cmd: [%q, %q]
    instances: 2
    listen: 127.0.0.1:0
    wait_ready: true
    listen_timeout: 10s
    kill_timeout: 2s
  - name: go
    cmd: [%%[1]q, demo]
    instances: 2
    listen: 127.0.0.1:0
    wait_ready: true
    listen_timeout: 10s
`, python, script))
	py := startCluster(t, clusterOptions{config: path, app: "py", runtimeDir: runtimeDir, waitReady: true})
	goApp := appCluster(t, runtimeDir, "go", 2)

	for _, app := range []struct {
		c        *cluster
		blocking bool
	}{{py, true}, {goApp, false}} {
		st := app.c.status()
		l := startLoad(t, app.c.addr(), false)
		l.waitAnswered(t, 200)
		for i := range 2 {
			// Reload waits for the outcome and fails unless it succeeded.
			if err := app.c.client.Reload(); err != nil {
				t.Fatalf("app %s reload %d: %v", st.Name, i+1, err)
			}
			l.waitAnswered(t, 100)
		}
		l.finish(t)
		for _, w := range slotWorkers(app.c.status()) {
			// The Go worker library moves fd 3 elsewhere: find the socket by
			// its inode among the master's listening ones.
			flags := int64(-1)
			for fd, ino := range socketInodes(t, w.PID) {
				if slices.Contains(listeningInodes(t, st.PID), ino) {
					flags = openFlags(w.PID, fd)
				}
			}
			if flags < 0 {
				t.Fatalf("app %s: worker %d holds no listening socket of the master", st.Name, w.PID)
			}
			if blocking := flags&unix.O_NONBLOCK == 0; blocking != app.blocking {
				t.Errorf("app %s worker %d: listening socket flags %o, blocking %v, want %v", st.Name, w.PID, flags, blocking, app.blocking)
			}
			if w.Restarts != 0 {
				t.Errorf("app %s slot %d restarted %d times: %s", st.Name, w.Slot, w.Restarts, w.LastExit)
			}
		}
	}
}
