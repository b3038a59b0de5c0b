package notify

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Endpoint is one worker's private readiness channel, in the two
// spellings of sd_notify(3): a unix datagram socket (NOTIFY_SOCKET, in the
// abstract namespace, so nothing is left on disk) and a pipe (NOTIFY_FD) for
// runtimes without datagram sockets. One endpoint per worker means a message
// can only ever speak for the worker it arrived for (docs/design.md §6).
type Endpoint struct {
	addr  string // "@clusterd/..."; the '@' is sd_notify's abstract spelling
	conn  *net.UnixConn
	pipeR *os.File
	pipeW *os.File // handed to the worker, closed here once it has started
	// exited is closed when the worker has been reaped.
	exited chan struct{}
	// log, when set, gets the endpoint's own warnings (slog.Default otherwise).
	log *slog.Logger
}

// maxNotifyLine bounds one NOTIFY_FD message, newline included (bufio.Scanner's
// 64 KiB, which the pipe used to be read with).
const maxNotifyLine = 64 << 10

// Open makes the endpoints of worker id of the master masterPID.
func Open(masterPID int, id uint64) (*Endpoint, error) {
	addr := fmt.Sprintf("@clusterd/%d/%d", masterPID, id)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) {
			// SO_PASSCRED: every message carries its sender's pid.
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
		err = errors.Join(err, serr)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify pipe: %w", err)
	}
	return &Endpoint{addr: addr, conn: conn, pipeR: r, pipeW: w, exited: make(chan struct{})}, nil
}

// Serve delivers every message the worker sends. deliver runs on the
// endpoint's goroutines and must only hand the message on to the event
// loop. rejected reports datagrams from a process outside the worker's
// session or of another uid than workerUID: at most once a second, with how
// many were rejected since the last report, so a flood costs the master
// neither its log nor its loop. After WorkerExited, the endpoint delivers what the worker
// sent before it died and then calls drained, so the loop judges a death
// (failed start or crash) knowing every READY=1 the worker managed to send.
func (e *Endpoint) Serve(workerPID int, workerUID uint32, deliver func(msg string), rejected func(senderPID int32, count int), drained func()) {
	pipeDone := make(chan struct{})
	go func() {
		defer close(pipeDone)
		// Warn of the first over-long line at once, then once a minute at most:
		// a worker writing them in a loop must not flood the master's log.
		var warned time.Time
		discarded := 0
		readNotifyLines(e.pipeR, deliver, func() {
			if discarded++; time.Since(warned) >= time.Minute {
				e.logger().Warn("NOTIFY_FD message over 64 KiB discarded", "worker_pid", workerPID, "discarded", discarded)
				warned, discarded = time.Now(), 0
			}
		})
	}()
	go func() {
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
		var reported time.Time
		unreported := 0
		handle := func(n, oobn int) {
			cred, ok := sender(oob[:oobn])
			if !ok || !fromWorker(cred, workerPID, workerUID) {
				if unreported++; time.Since(reported) >= time.Second {
					rejected(cred.Pid, unreported)
					reported, unreported = time.Now(), 0
				}
				return
			}
			deliver(string(buf[:n]))
		}
		for {
			n, oobn, _, _, err := e.conn.ReadMsgUnix(buf, oob)
			if err != nil {
				break // workerExited interrupted us, or the endpoint is closed
			}
			handle(n, oobn)
		}
		select {
		case <-e.exited:
		default:
			return // closed without an exit: the master is going away
		}
		e.conn.SetReadDeadline(time.Time{})
		if raw, err := e.conn.SyscallConn(); err == nil {
			for {
				n, oobn := -1, 0
				raw.Read(func(fd uintptr) bool {
					n, oobn, _, _, err = unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
					return true // never wait: only what is queued already
				})
				if err != nil || n < 0 {
					break
				}
				handle(n, oobn)
			}
		}
		// The pipe ends when the worker's write end is gone; a child that
		// inherited it may hold it open, so do not wait for long.
		select {
		case <-pipeDone:
		case <-time.After(100 * time.Millisecond):
		}
		drained()
	}()
}

// readNotifyLines delivers each line read from r, without its line ending. A
// line longer than maxNotifyLine is discarded whole (tooLong is called once
// for it) and reading goes on: a worker that writes one, a runaway STATUS=
// say, must not lose the READY=1 it writes next.
func readNotifyLines(r io.Reader, deliver func(line string), tooLong func()) {
	lines := bufio.NewReaderSize(r, maxNotifyLine)
	discarding := false
	for {
		line, err := lines.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if !discarding {
				tooLong()
			}
			discarding = true
			continue
		}
		if !discarding && len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			deliver(string(line))
		}
		discarding = false
		if err != nil {
			return
		}
	}
}

func (e *Endpoint) logger() *slog.Logger {
	if e.log != nil {
		return e.log
	}
	return slog.Default()
}

// WorkerExited makes Serve deliver what is left and then call drained.
func (e *Endpoint) WorkerExited() {
	close(e.exited)
	e.conn.SetReadDeadline(time.Now())
}

// AfterStart drops the master's copy of the pipe's write end, so the read
// end sees EOF when the worker and its children have all gone.
func (e *Endpoint) AfterStart() {
	e.pipeW.Close()
}

// Addr is the NOTIFY_SOCKET value the worker gets.
func (e *Endpoint) Addr() string { return e.addr }

// PipeFd is the pipe's write end, the worker's NOTIFY_FD.
func (e *Endpoint) PipeFd() uintptr { return e.pipeW.Fd() }

// Close releases the endpoint.
func (e *Endpoint) Close() {
	e.conn.Close()
	e.pipeR.Close()
	e.pipeW.Close()
}

// sender is a datagram's credentials (SO_PASSCRED), as the kernel vouches
// for them.
func sender(oob []byte) (unix.Ucred, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return unix.Ucred{}, false
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return *cred, true
		}
	}
	return unix.Ucred{}, false
}

// fromWorker accepts the worker itself and what it started, as systemd's
// NotifyAccess=all does within a unit: processes of the worker's session
// (it leads one) running as the worker's user. A process group can be
// joined by any process of the same session only, so a process of another
// worker, of another app or of another user cannot pass for this one by
// setpgid, as it could when the process group alone was checked.
func fromWorker(cred unix.Ucred, workerPID int, workerUID uint32) bool {
	if cred.Uid != workerUID && cred.Uid != 0 {
		return false
	}
	if int(cred.Pid) == workerPID {
		return true
	}
	sid, err := unix.Getsid(int(cred.Pid))
	return err == nil && sid == workerPID
}

// Message is what the master reads from one sd_notify message.
type Message struct {
	Ready, Stopping, Watchdog bool
	Status                    string // STATUS=, shown by `clusterd status`
}

// Parse reads the assignments clusterd acts on and ignores the rest,
// as systemd does with fields it does not know.
func Parse(msg string) Message {
	var n Message
	for line := range strings.SplitSeq(msg, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "READY":
			n.Ready = v == "1"
		case "STOPPING":
			n.Stopping = v == "1"
		case "WATCHDOG":
			n.Watchdog = v == "1"
		case "STATUS":
			n.Status = v
		}
	}
	return n
}

// ReloadingMessage is what a service of Type=notify-reload tells systemd
// at the start of a reload: RELOADING=1 with the CLOCK_MONOTONIC time in
// microseconds.
func ReloadingMessage() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
}

// SetLogger gives the endpoint the app's logger for its own warnings.
func (e *Endpoint) SetLogger(l *slog.Logger) { e.log = l }
