package health

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveProbe answers every probe on a unix socket with answer, then, with endless, with
// bytes and no newline for as long as the master reads. It returns the socket's path.
func serveProbe(t *testing.T, answer string, endless bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "health.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				bufio.NewReader(conn).ReadString('\n')
				if _, err := conn.Write([]byte(answer)); err != nil || !endless {
					return
				}
				chunk := []byte(strings.Repeat("x", 64<<10))
				for {
					if _, err := conn.Write(chunk); err != nil {
						return
					}
				}
			}()
		}
	}()
	return path
}

// TestProbeAnswerIsBounded: a worker that streams bytes with no newline gets a failed
// probe as soon as maxProbeAnswer bytes have come, not at the timeout with everything it
// sent buffered in the master.
func TestProbeAnswerIsBounded(t *testing.T) {
	for _, answer := range []string{"", "HTTP/1.1 200 OK"} {
		socket := serveProbe(t, answer, true)
		start := time.Now()
		err := Probe(socket, "/health", 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "no status line in the first 4096 bytes") {
			t.Errorf("answer %q then endless bytes: err = %v, want no status line", answer, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("answer %q then endless bytes: the probe took %s, read until its timeout", answer, took)
		}
	}
}

func TestProbeStatus(t *testing.T) {
	for _, c := range []struct{ answer, err string }{
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ""},
		{"HTTP/1.0 204 No Content\r\n\r\n", ""},
		{"HTTP/1.1 503 Service Unavailable\r\n\r\n", "status 503 Service Unavailable"},
		{"SSH-2.0-OpenSSH\r\n", "not an HTTP answer"},
		{"HTTP/1.1 200 OK", "no answer within"}, // no newline before the worker hung up
	} {
		err := Probe(serveProbe(t, c.answer, false), "/health", 5*time.Second)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("answer %q: err = %v, want %q", c.answer, err, c.err)
		}
	}
}
