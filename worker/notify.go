package worker

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// Notify sends state (for example "READY=1", or several "KEY=value" lines joined by "\n")
// to the supervisor, like sd_notify(3):
//
//   - If NOTIFY_SOCKET is set, state goes as one datagram to that unix socket; a leading
//     '@' names a socket in the abstract namespace.
//   - Otherwise, if NOTIFY_FD names an inherited descriptor (a pipe to the master), state
//     and a newline go to it in one write. The descriptor is opened on first use, kept open
//     for later messages, marked close-on-exec, and NOTIFY_FD is unset so that programs
//     this worker starts cannot write into whatever their own descriptor of that number is.
//   - Otherwise nobody is listening: Notify returns (false, nil).
//
// sent reports whether the message was handed to the supervisor.
func Notify(state string) (sent bool, err error) {
	if addr := os.Getenv("NOTIFY_SOCKET"); addr != "" {
		if err := notifySocket(addr, state); err != nil {
			return false, err
		}
		return true, nil
	}
	notifyPipe.once.Do(openNotifyPipe)
	if notifyPipe.err != nil || notifyPipe.file == nil {
		return false, notifyPipe.err
	}
	// One write, so a line is never interleaved with another goroutine's: os.File
	// serializes writers, and a pipe write of at most PIPE_BUF bytes is atomic.
	if _, err := notifyPipe.file.WriteString(state + "\n"); err != nil {
		return false, fmt.Errorf("worker: notify via NOTIFY_FD: %w", err)
	}
	return true, nil
}

// Ready tells the supervisor that this worker serves requests ("READY=1"); the master
// then counts it as started and, during a reload, retires an old worker in its place.
// Not running under a supervisor is not an error.
func Ready() error {
	_, err := Notify("READY=1")
	return err
}

// Stopping tells the supervisor that this worker has begun to shut down ("STOPPING=1").
// Not running under a supervisor is not an error.
func Stopping() error {
	_, err := Notify("STOPPING=1")
	return err
}

func notifySocket(addr, state string) error {
	name := addr
	if name[0] == '@' {
		// Abstract namespace. NUL is the kernel's spelling; Go's syscall package maps
		// '@' to the same address (go1.26 src/syscall/syscall_linux.go:555-572).
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("worker: notify via NOTIFY_SOCKET=%s: %w", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("worker: notify via NOTIFY_SOCKET=%s: %w", addr, err)
	}
	return nil
}

// notifyPipe is the NOTIFY_FD descriptor, opened once and kept for the process's life.
var notifyPipe struct {
	once sync.Once
	file *os.File // nil when NOTIFY_FD was not set
	err  error
}

func openNotifyPipe() {
	v := os.Getenv("NOTIFY_FD")
	if v == "" {
		return
	}
	os.Unsetenv("NOTIFY_FD")
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 0 {
		notifyPipe.err = fmt.Errorf("worker: NOTIFY_FD=%q is not a descriptor", v)
		return
	}
	// A pipe or a socket pair is what a master passes. Anything else means NOTIFY_FD is
	// stale (inherited past the process it was meant for) and the number now belongs to
	// some file of ours, which a notification must not be written into.
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		notifyPipe.err = fmt.Errorf("worker: NOTIFY_FD=%d: %w", fd, err)
		return
	}
	if typ := st.Mode & syscall.S_IFMT; typ != syscall.S_IFIFO && typ != syscall.S_IFSOCK {
		notifyPipe.err = fmt.Errorf("worker: NOTIFY_FD=%d is not a pipe or socket", fd)
		return
	}
	syscall.CloseOnExec(fd)
	notifyPipe.file = os.NewFile(uintptr(fd), "NOTIFY_FD")
}
