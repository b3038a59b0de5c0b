package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSocketActivationPassthrough starts the master the way a systemd
// .socket unit does (systemd-socket-activate: the socket exists before
// the master, LISTEN_FDS=1, LISTEN_FDNAMES=web): the workers serve that
// very socket, a --listen NAME matching it uses it instead of binding, and
// the master leaves systemd's socket file alone when it stops.
func TestSocketActivationPassthrough(t *testing.T) {
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is not installed (Debian package systemd)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "web.sock")
	wrapper := []string{activate, "-l", path, "--fdname=web",
		// It passes no environment of its own but what -E names.
		"-E", "CLUSTERD_TEST_ROLE=main", "-E", testRunVar + "=" + runID(t)}
	started := make(chan *cluster, 1)
	go func() {
		// systemd-socket-activate starts the master on the first connection.
		var conn net.Conn
		waitFor(t, 10*time.Second, "the activation socket", func() error {
			var err error
			conn, err = net.Dial("unix", path)
			return err
		})
		defer conn.Close()
		<-started
	}()
	c := startCluster(t, clusterOptions{
		wrapper: wrapper,
		// The name matches the inherited socket: no bind. api is bound.
		args:      []string{"-i", "2", "-l", "web=unix:" + filepath.Join(dir, "ignored.sock"), "-l", "api=127.0.0.1:0"},
		command:   demoCommand(t),
		waitReady: true,
	})
	started <- c
	st := c.status()
	if len(st.Listeners) != 2 || st.Listeners[0] != "unix:"+path || !strings.HasPrefix(st.Listeners[1], "127.0.0.1:") {
		t.Fatalf("listeners = %v, want systemd's %s and a bound api socket", st.Listeners, path)
	}
	if _, err := os.Stat(filepath.Join(dir, "ignored.sock")); !os.IsNotExist(err) {
		t.Fatalf("the master bound its own socket for a name that socket activation provided")
	}
	l := startLoad(t, "unix:"+path, true)
	l.waitAnswered(t, 500)
	if out := c.reloadBySignal(); out.Outcome != "succeeded" {
		t.Fatalf("reload: %s", out.Reason)
	}
	l.waitAnswered(t, 500)
	l.finish(t)
	for _, w := range slotWorkers(c.status()) {
		if env := procEnv(t, w.PID); env["LISTEN_FDNAMES"] != "web:api" {
			t.Errorf("worker LISTEN_FDNAMES = %q, want web:api", env["LISTEN_FDNAMES"])
		}
	}
	syscall.Kill(c.cmd.Process.Pid, syscall.SIGTERM)
	<-c.exited
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the master removed systemd's socket file: %v", err)
	}
}
