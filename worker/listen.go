package worker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// listenFDsStart is SD_LISTEN_FDS_START: the first inherited socket is always descriptor 3.
const listenFDsStart = 3

// A Listener is one inherited listening socket and its name from LISTEN_FDNAMES.
type Listener struct {
	// Name is the socket's entry in LISTEN_FDNAMES, or "LISTEN_FD_<fd>" when it has none
	// (the same default as go-systemd).
	Name string
	net.Listener
}

// Files returns the descriptors the master passed to this process, in order, each named
// after its entry in LISTEN_FDNAMES (see [os.File.Name]). Like sd_listen_fds(3) it returns
// nothing, and no error, when LISTEN_PID or LISTEN_FDS is unset or LISTEN_PID is another
// process's: the program was not started by a master. A malformed variable or a descriptor
// that is not open is an error.
//
// Files unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES whatever it finds, so only the
// first call returns the descriptors, and marks them close-on-exec so programs this worker
// starts do not inherit them.
//
// Each descriptor is made non-blocking before it is wrapped (it normally already is: the
// master shares non-blocking sockets). With the flag set, [os.NewFile] hands the descriptor
// to the runtime poller and records that the os package did not set the flag itself, so
// [os.File.Fd] on these files leaves it alone (go1.26 src/os/file_unix.go, newFile). Fd on a
// file from [net.TCPListener.File] is the trap: it switches the shared socket to blocking.
func Files() ([]*os.File, error) {
	pid, fds, names := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	return inheritedFiles(pid, fds, names, os.Getpid(), listenFDsStart)
}

// inheritedFiles is Files without the environment: the variables' values, this process's
// pid and the first descriptor are passed in so tests can use descriptors other than 3.
func inheritedFiles(pidVar, fdsVar, namesVar string, pid, first int) ([]*os.File, error) {
	if pidVar == "" || fdsVar == "" {
		return nil, nil
	}
	listenPID, err := strconv.Atoi(pidVar)
	if err != nil || listenPID <= 0 {
		return nil, fmt.Errorf("worker: LISTEN_PID=%q is not a process id", pidVar)
	}
	if listenPID != pid {
		return nil, nil // meant for another process, e.g. our parent
	}
	n, err := strconv.Atoi(fdsVar)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("worker: LISTEN_FDS=%q is not a number of descriptors", fdsVar)
	}
	if n == 0 {
		return nil, nil
	}
	var names []string
	if namesVar != "" {
		names = strings.Split(namesVar, ":")
	}
	// Check every descriptor before wrapping any, so an error leaves none of them wrapped.
	for fd := first; fd < first+n; fd++ {
		// SetNonblock reads the flags first and only writes them when O_NONBLOCK is missing.
		if err := syscall.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("worker: LISTEN_FDS=%d but descriptor %d: %w", n, fd, err)
		}
		syscall.CloseOnExec(fd)
	}
	files := make([]*os.File, n)
	for i := range files {
		fd := first + i
		name := "LISTEN_FD_" + strconv.Itoa(fd)
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		files[i] = os.NewFile(uintptr(fd), name)
	}
	return files, nil
}

// NamedListeners returns the inherited sockets (see [Files]) as listeners with their names.
// It returns nothing, and no error, when the program was not started by a master. Closing
// a listener closes only this process's descriptor: the socket stays open in the master
// and the other workers, and connections waiting in its queue go to them.
func NamedListeners() ([]Listener, error) {
	files, err := Files()
	if err != nil || len(files) == 0 {
		return nil, err
	}
	listeners := make([]Listener, 0, len(files))
	var errs []error
	for _, f := range files {
		// FileListener works on a duplicate (and sets O_NONBLOCK on it, the same open
		// file description), so f itself is no longer needed.
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("worker: inherited socket %q: %w", f.Name(), err))
			continue
		}
		listeners = append(listeners, Listener{Name: f.Name(), Listener: ln})
	}
	if len(errs) > 0 {
		for _, l := range listeners {
			l.Close()
		}
		return nil, errors.Join(errs...)
	}
	return listeners, nil
}

// Listeners is [NamedListeners] without the names.
func Listeners() ([]net.Listener, error) {
	named, err := NamedListeners()
	if err != nil || len(named) == 0 {
		return nil, err
	}
	listeners := make([]net.Listener, len(named))
	for i, l := range named {
		listeners[i] = l.Listener
	}
	return listeners, nil
}
