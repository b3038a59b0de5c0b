package notify

import (
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startInSession starts a process that leads a session of its own, as a
// worker does, and ends it when the test ends.
func startInSession(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// Only the worker's session, as the worker's user, speaks for it: a
// process elsewhere (another worker, another app) cannot, whatever process
// group it joins.
func TestFromWorkerChecksSessionAndUser(t *testing.T) {
	worker := startInSession(t)
	other := startInSession(t)
	uid := uint32(os.Getuid())
	me := unix.Ucred{Pid: int32(worker.Process.Pid), Uid: uid}
	if !fromWorker(me, worker.Process.Pid, uid) {
		t.Error("the worker itself was refused")
	}
	if fromWorker(unix.Ucred{Pid: int32(other.Process.Pid), Uid: uid}, worker.Process.Pid, uid) {
		t.Error("a process of another session was taken for the worker")
	}
	if fromWorker(unix.Ucred{Pid: int32(worker.Process.Pid), Uid: uid + 1}, worker.Process.Pid, 4242) && uid != 0 {
		t.Error("a sender of another uid was taken for the worker")
	}
}

// A flood of messages from a stranger is neither delivered nor reported
// one by one: at most one report a second, counting them all.
func TestStrangersFloodIsCountedNotLogged(t *testing.T) {
	worker := startInSession(t)
	e, err := Open(os.Getpid(), uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var mu sync.Mutex
	reports, rejected, delivered := 0, 0, 0
	e.Serve(worker.Process.Pid, uint32(os.Getuid()),
		func(string) { mu.Lock(); delivered++; mu.Unlock() },
		func(_ int32, n int) { mu.Lock(); reports++; rejected += n; mu.Unlock() },
		func() {})
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: e.Addr(), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const sent = 5000
	for range sent {
		conn.Write([]byte("READY=1"))
	}
	// Wait until the endpoint has read every datagram (its queue is empty).
	raw, _ := e.conn.SyscallConn()
	deadline := time.Now().Add(10 * time.Second)
	for {
		queued := -1
		raw.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the endpoint did not read the flood")
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	// The test process is not in the worker's session: none of it counts,
	// and within a second it is reported once, the rest counted for the
	// next report.
	if delivered != 0 {
		t.Fatalf("a stranger's READY=1 was delivered %d times", delivered)
	}
	if reports < 1 || reports > 2 || rejected > sent {
		t.Fatalf("%d reports counting %d of %d rejected messages", reports, rejected, sent)
	}
}
