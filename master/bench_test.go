package master

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkParseNotify: every READY=1, STATUS= and watchdog ping from a
// worker goes through it on the event loop.
func BenchmarkParseNotify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		n := parseNotify("READY=1\nSTATUS=serving fd 3")
		if !n.ready {
			b.Fatal("not ready")
		}
	}
}

// BenchmarkNotifyDelivery: one datagram from a "worker" (this process, so
// the sender check passes) to the endpoint's goroutine and out of deliver:
// the path of every readiness message.
func BenchmarkNotifyDelivery(b *testing.B) {
	ep, err := openNotify(os.Getpid(), uint64(time.Now().UnixNano()))
	if err != nil {
		b.Fatal(err)
	}
	defer ep.close()
	got := make(chan string, 1)
	ep.serve(os.Getpid(), func(msg string) { got <- msg }, func(int32) { b.Error("rejected") }, func() {})
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: ep.addr, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	msg := []byte("READY=1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}

// BenchmarkSpawn: fork and exec one worker (/bin/true, through no shim:
// the test binary has none) from the locked spawner thread, with its
// notify endpoint, and reap it: the master's share of a restart.
func BenchmarkSpawn(b *testing.B) {
	s := newSpawner()
	devNull, err := openDevNull()
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	cmd, err := resolveCommand([]string{"/bin/true"}, "", 1)
	if err != nil {
		b.Fatal(err)
	}
	env := workerEnv(os.Environ())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ep, err := openNotify(os.Getpid(), uint64(i))
		if err != nil {
			b.Fatal(err)
		}
		start := workerStart{cmd: cmd, env: env, stdio: [3]uintptr{devNull.Fd(), devNull.Fd(), devNull.Fd()},
			notifyAddr: ep.addr, notifyPipe: int(ep.pipeW.Fd())}
		// Without the exec shim in this binary, run the command directly.
		pid, err := s.startDirect(start)
		ep.afterStart()
		if err != nil {
			b.Fatal(err)
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			b.Fatal(err)
		}
		ep.close()
	}
}

// startDirect is start without the shim, for the benchmark: same files,
// same attributes, the command as argv0.
func (s *spawner) startDirect(w workerStart) (int, error) {
	files := append(w.stdio[:], uintptr(w.notifyPipe))
	attr := &syscall.ProcAttr{Dir: w.cmd.dir, Env: w.env, Files: files,
		Sys: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}}
	reply := make(chan spawnResult, 1)
	s.requests <- spawnRequest{path: w.cmd.path, argv: w.cmd.argv, attr: attr, reply: reply}
	r := <-reply
	if r.err != nil {
		return 0, fmt.Errorf("start %s: %w", strings.Join(w.cmd.argv, " "), r.err)
	}
	return r.pid, nil
}
