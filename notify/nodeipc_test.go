package notify

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// workerEnd opens a channel and returns the worker's end as a connection,
// as Node would read it.
func workerEnd(t *testing.T) (*NodeChannel, *net.UnixConn) {
	t.Helper()
	c, err := OpenNodeChannel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	fd, err := unix.Dup(int(c.WorkerEnd()))
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "worker")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.CloseWorkerEnd()
	return c, conn.(*net.UnixConn)
}

// readAnswer reads one line and the descriptors that came with it.
func readAnswer(t *testing.T, conn *net.UnixConn) (map[string]any, []int) {
	t.Helper()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	for _, m := range msgs {
		rights, err := unix.ParseUnixRights(&m)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, rights...)
	}
	var answer map[string]any
	if err := json.Unmarshal(buf[:n], &answer); err != nil {
		t.Fatalf("answer %q: %v", buf[:n], err)
	}
	return answer, fds
}

// TestNodeChannelAnswersListenWithTheSocket: a listen request is answered
// in Node's wire format for a passed server handle (a NODE_HANDLE message
// of type net.Native with the socket attached), and a refusal as the
// preload's own message with the error's code, which the app's server
// then emits as Node would (EADDRINUSE, EACCES).
func TestNodeChannelAnswersListenWithTheSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnFile, _ := ln.(*net.TCPListener).File()
	defer lnFile.Close()

	c, worker := workerEnd(t)
	var got []ListenRequest
	requests := make(chan ListenRequest, 2)
	c.Serve(func(string) {}, func(req ListenRequest) (int, error) {
		requests <- req
		if req.Port == 80 {
			return -1, fmt.Errorf("port 80 is privileged: %w", unix.EACCES)
		}
		return unix.Dup(int(lnFile.Fd()))
	})
	fmt.Fprintf(worker, `{"cmd":"NODE_CLUSTERD_LISTEN","seq":7,"host":"","port":3000}`+"\n")
	answer, fds := readAnswer(t, worker)
	got = append(got, <-requests)
	if answer["cmd"] != "NODE_HANDLE" || answer["type"] != "net.Native" || len(fds) != 1 {
		t.Fatalf("answer %v with %d fds, want a NODE_HANDLE of type net.Native with the socket", answer, len(fds))
	}
	if inner, _ := answer["msg"].(map[string]any); inner["cmd"] != ListenCmd || inner["seq"] != 7.0 {
		t.Errorf("inner message %v, want the request's cmd and seq", answer["msg"])
	}
	sa, _ := unix.Getsockname(fds[0])
	if sa.(*unix.SockaddrInet4).Port != ln.Addr().(*net.TCPAddr).Port {
		t.Errorf("the descriptor passed is not the listening socket")
	}
	unix.Close(fds[0])

	fmt.Fprintf(worker, `{"cmd":"NODE_CLUSTERD_LISTEN","seq":8,"host":"","port":80}`+"\n")
	answer, fds = readAnswer(t, worker)
	got = append(got, <-requests)
	if answer["cmd"] != ListenCmd || answer["seq"] != 8.0 || answer["code"] != "EACCES" || len(fds) != 0 {
		t.Errorf("refusal %v with %d fds, want the request's cmd and seq, code EACCES and no descriptor", answer, len(fds))
	}
	if got[0] != (ListenRequest{Seq: 7, Port: 3000}) || got[1].Port != 80 {
		t.Errorf("requests as parsed: %+v", got)
	}
}

// TestNodeChannelShutdownNeverWaits: a worker that never reads its channel
// fills it; the 'shutdown' message (sent from the master's event loop)
// then fails at once instead of blocking.
func TestNodeChannelShutdownNeverWaits(t *testing.T) {
	c, _ := workerEnd(t)
	start := time.Now()
	var err error
	for range 1 << 20 {
		if err = c.SendShutdown(); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("a channel nobody reads never filled")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("filling took %s", d)
	}
}
