package worker

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/internal/proctest"
)

func TestNotifySocket(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"path", filepath.Join(t.TempDir(), "notify.sock")},
		{"abstract", "@clusterd-test-notify-" + strconv.Itoa(os.Getpid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := listenNotify(t, tc.addr)
			t.Setenv("NOTIFY_SOCKET", tc.addr)

			sent, err := Notify("READY=1\nSTATUS=serving")
			if !sent || err != nil {
				t.Fatalf("Notify = %t, %v; want true, nil", sent, err)
			}
			if got := receive(t, sock); got != "READY=1\nSTATUS=serving" {
				t.Errorf("received %q", got)
			}
			if err := Ready(); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, sock); got != "READY=1" {
				t.Errorf("Ready sent %q", got)
			}
			if err := Stopping(); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, sock); got != "STOPPING=1" {
				t.Errorf("Stopping sent %q", got)
			}
		})
	}
}

func TestNotifyNobodyListening(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("NOTIFY_FD", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Errorf("without a supervisor Notify = %t, %v; want false, nil", sent, err)
	}
	if err := Ready(); err != nil {
		t.Errorf("without a supervisor Ready = %v", err)
	}
}

func TestNotifySocketGone(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody.sock"))
	if sent, err := Notify("READY=1"); sent || err == nil {
		t.Errorf("Notify to a missing socket = %t, %v; want false and an error", sent, err)
	}
}

// TestNotifyPipe runs a child with NOTIFY_FD: several messages go over the one pipe, each
// a line, and the variable is gone from the child's environment afterwards.
func TestNotifyPipe(t *testing.T) {
	child := proctest.Start(t, "notify", nil)
	var got []string
	for line := range child.Notifications() {
		got = append(got, line)
	}
	if want := "READY=1 WATCHDOG=1 WATCHDOG=1 STOPPING=1"; strings.Join(got, " ") != want {
		t.Errorf("pipe carried %q, want %s", got, want)
	}
	if got := child.WaitOutput("NOTIFY_FD="); got != `NOTIFY_FD=""` {
		t.Errorf("child still has %s", got)
	}
	if code := child.Wait(); code != 0 {
		t.Fatalf("child exited with %d", code)
	}
}

// listenNotify opens a unix datagram socket at addr. A leading '@' is kept as the master
// spells it (Go turns it into the NUL of the abstract namespace); Notify sends to the NUL
// spelling, so the test also checks that both name the same socket.
func listenNotify(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	return sock
}

// receive reads one datagram, or fails after proctest.Timeout.
func receive(t *testing.T, sock *net.UnixConn) string {
	t.Helper()
	return receiveWithin(t, sock, proctest.Timeout, true)
}

func receiveWithin(t *testing.T, sock *net.UnixConn, d time.Duration, must bool) string {
	t.Helper()
	buf := make([]byte, 4096)
	sock.SetReadDeadline(time.Now().Add(d))
	n, err := sock.Read(buf)
	if err != nil {
		if must || !os.IsTimeout(err) {
			t.Fatal(err)
		}
		return ""
	}
	return string(buf[:n])
}
