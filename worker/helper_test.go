package worker

import (
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/clusterd/clusterd/internal/proctest"
	"golang.org/x/sys/unix"
)

// TestHelperProcess is the child side of the tests that need a process of their own: one
// that inherits sockets, or a NOTIFY_FD pipe, from the test (see proctest.Start).
func TestHelperProcess(t *testing.T) {
	proctest.RunHelper(map[string]func() error{"listeners": helperListeners, "files": helperFiles, "notify": helperNotify})
}

// helperListeners takes the inherited sockets, reports them, and answers one connection on
// each with the socket's name, so the test can check that names and sockets match.
func helperListeners() error {
	listeners, err := NamedListeners()
	if err != nil {
		return err
	}
	fmt.Printf("env LISTEN_PID=%q LISTEN_FDS=%q LISTEN_FDNAMES=%q\n",
		os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES"))
	for _, l := range listeners {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		io.WriteString(c, l.Name)
		c.Close()
		if err := l.Close(); err != nil {
			return err
		}
	}
	fmt.Println("done")
	return nil
}

// helperFiles takes the inherited descriptors as files and calls Fd on them, as a program
// handing them to another library might, then reports each one's close-on-exec flag.
func helperFiles() error {
	files, err := Files()
	if err != nil {
		return err
	}
	for _, f := range files {
		fd := int(f.Fd())
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return err
		}
		fmt.Printf("file %s fd=%d cloexec=%t\n", f.Name(), fd, flags&unix.FD_CLOEXEC != 0)
	}
	fmt.Println("done")
	return nil
}

// helperNotify sends what a worker's life sends, over NOTIFY_FD.
func helperNotify() error {
	if err := Ready(); err != nil {
		return err
	}
	for range 2 {
		if sent, err := Notify("WATCHDOG=1"); !sent || err != nil {
			return fmt.Errorf("WATCHDOG=1: sent=%t err=%v", sent, err)
		}
	}
	if err := Stopping(); err != nil {
		return err
	}
	fmt.Printf("NOTIFY_FD=%q\n", os.Getenv("NOTIFY_FD"))
	return nil
}
