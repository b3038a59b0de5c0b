package worker

import (
	"errors"
	"fmt"
	"math"
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
	// Name is the socket's entry in LISTEN_FDNAMES, or "unknown" when it has none (as
	// sd_listen_fds_with_names(3) names it; go-systemd says "LISTEN_FD_<fd>").
	Name string
	net.Listener
}

// Files returns the descriptors the master passed to this process, in order, each named
// after its entry in LISTEN_FDNAMES (see [os.File.Name]). Like sd_listen_fds(3) it returns
// nothing, and no error, when LISTEN_PID or LISTEN_FDS is unset or LISTEN_PID is another
// process's: the program was not started by a master. A malformed variable, names that do
// not count the descriptors, or a descriptor that is not open is an error.
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
	return inheritedFiles(pid, fds, names, listenerPID(pid), listenFDsStart)
}

// listenerPID is the pid LISTEN_PID must name for the descriptors to be
// this process's: its own, or, under clusterd (CLUSTERD_SLOT is set), the
// worker whose session it is in. A worker that is a wrapper (npm start,
// sh -c) leads a session of its own, and the server it starts inherits the
// sockets with LISTEN_PID naming the wrapper: that server is the one meant
// to serve them.
func listenerPID(listenPID string) int {
	self := os.Getpid()
	if os.Getenv("CLUSTERD_SLOT") == "" || listenPID == strconv.Itoa(self) {
		return self
	}
	sid, _, errno := syscall.RawSyscall(syscall.SYS_GETSID, 0, 0, 0)
	if errno == 0 && strconv.Itoa(int(sid)) == listenPID {
		return int(sid)
	}
	return self
}

// inheritedFiles is Files without the environment: the variables' values, this process's
// pid and the first descriptor are passed in so tests can use descriptors other than 3.
func inheritedFiles(pidVar, fdsVar, namesVar string, pid, first int) ([]*os.File, error) {
	n, names, err := listenEnv(pidVar, fdsVar, namesVar, pid)
	if err != nil || n == 0 {
		return nil, err
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
		files[i] = os.NewFile(uintptr(first+i), listenName(names, i))
	}
	return files, nil
}

// maxListenFDs is the most descriptors LISTEN_FDS may announce, sd_listen_fds(3)'s limit:
// the last one, 3+n-1, must be an int.
const maxListenFDs = math.MaxInt32 - listenFDsStart

// listenEnv reads the variables as sd_listen_fds_with_names(3) does, for the process pid:
// the number of descriptors passed to it and LISTEN_FDNAMES split at ':' (nil when unset).
// Without LISTEN_PID or LISTEN_FDS, or for another process, the count is 0 and there is
// no error; a malformed value, or names that do not count the descriptors, is an error.
//
// Two departures, both for launchers other than systemd, which sends neither: LISTEN_FDS=0
// is no descriptors, not an error (the master sends it to workers that serve no socket),
// and an empty LISTEN_FDNAMES is taken as unset. The listener package parses the same
// variables for the master; worker/testdata/listen_env.txt is the table both must agree on.
func listenEnv(pidVar, fdsVar, namesVar string, pid int) (n int, names []string, err error) {
	if pidVar == "" {
		return 0, nil, nil
	}
	listenPID, err := strconv.Atoi(pidVar)
	if err != nil || listenPID <= 0 {
		return 0, nil, fmt.Errorf("worker: LISTEN_PID=%q is not a process id", pidVar)
	}
	if listenPID != pid || fdsVar == "" {
		return 0, nil, nil // meant for another process, e.g. our parent
	}
	n, err = strconv.Atoi(fdsVar)
	if err != nil || n < 0 || n > maxListenFDs {
		return 0, nil, fmt.Errorf("worker: LISTEN_FDS=%q is not a number of descriptors", fdsVar)
	}
	if n == 0 || namesVar == "" {
		return n, nil, nil
	}
	names = strings.Split(namesVar, ":")
	if len(names) != n {
		return 0, nil, fmt.Errorf("worker: LISTEN_FDNAMES=%q has %d names for LISTEN_FDS=%d", namesVar, len(names), n)
	}
	return n, names, nil
}

// listenName is the name of descriptor i: its LISTEN_FDNAMES entry, or "unknown" without
// one, as sd_listen_fds_with_names(3) names it. An empty entry is "unknown" too (systemd
// would return it empty, but never sends one).
func listenName(names []string, i int) string {
	if i < len(names) && names[i] != "" {
		return names[i]
	}
	return "unknown"
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
