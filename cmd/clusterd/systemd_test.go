package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeSystemd is the notify socket a supervisor gives the master.
type fakeSystemd struct {
	conn *net.UnixConn
	addr string
	msgs chan string
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	addr := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSystemd{conn: conn, addr: addr, msgs: make(chan string, 1024)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(f.msgs)
				return
			}
			f.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return f
}

// expect waits for a message containing every one of want.
func (f *fakeSystemd) expect(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case msg := <-f.msgs:
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(msg, w)
			}
			if ok {
				return msg
			}
		case <-deadline:
			t.Fatalf("the master never sent a notify message with %q", want)
		}
	}
}

// TestMasterSpeaksSdNotify plays systemd for a Type=notify-reload unit:
// READY=1 with MAINPID once all workers are ready, RELOADING=1 with
// MONOTONIC_USEC and then READY=1 around a reload, STATUS= lines,
// WATCHDOG=1 pings, STOPPING=1; and the pidfile follows the master.
func TestMasterSpeaksSdNotify(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	systemd := newFakeSystemd(t)
	pidfile := filepath.Join(t.TempDir(), "clusterd.pid")
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "2", "--pidfile", pidfile},
		command: []string{"/bin/sleep", "600"},
		env:     []string{"NOTIFY_SOCKET=" + systemd.addr, "WATCHDOG_USEC=200000"},
	})
	masterPID := c.cmd.Process.Pid
	ready := systemd.expect(t, "READY=1", "MAINPID="+strconv.Itoa(masterPID))
	if !strings.Contains(ready, "STATUS=2 of 2 workers ready") {
		t.Errorf("READY=1 without a useful STATUS: %q", ready)
	}
	raw, err := os.ReadFile(pidfile)
	if err != nil || strings.TrimSpace(string(raw)) != strconv.Itoa(masterPID) {
		t.Fatalf("pidfile = %q, %v; want the master's pid %d", raw, err, masterPID)
	}
	systemd.expect(t, "WATCHDOG=1")
	systemd.expect(t, "WATCHDOG=1") // and again: the loop keeps pinging

	syscall.Kill(masterPID, syscall.SIGHUP)
	reloading := systemd.expect(t, "RELOADING=1")
	var usec int64
	for _, line := range strings.Split(reloading, "\n") {
		if v, ok := strings.CutPrefix(line, "MONOTONIC_USEC="); ok {
			usec, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if usec <= 0 {
		t.Fatalf("RELOADING=1 without MONOTONIC_USEC: %q", reloading)
	}
	systemd.expect(t, "READY=1", "generation 2")

	syscall.Kill(masterPID, syscall.SIGTERM)
	systemd.expect(t, "STOPPING=1")
	<-c.exited
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind after the master exited: %v", err)
	}
}
