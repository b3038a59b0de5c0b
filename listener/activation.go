package listener

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Inherited returns the listening sockets this process was started with by
// socket activation (a systemd .socket unit, systemd-socket-activate), as
// sd_listen_fds_with_names(3) describes: fds 3.. with LISTEN_FDS,
// LISTEN_FDNAMES and LISTEN_PID, which must be our pid. A socket without a
// name is named "unknown", as systemd names it. It unsets the variables, so
// they reach no child, and returns nil when there are none.
func Inherited() ([]*Socket, error) {
	defer func() {
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
	}()
	n, names, err := listenEnv(os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES"), os.Getpid())
	if err != nil {
		return nil, err
	}
	var sockets []*Socket // not sized by n, which only the descriptors bound
	for i := range n {
		fd := 3 + i
		name := listenName(names, i)
		domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
		if err != nil {
			return nil, fmt.Errorf("socket activation: fd %d (%s) is not a socket: %w", fd, name, err)
		}
		if listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || listening != 1 {
			return nil, fmt.Errorf("socket activation: fd %d (%s) is not a listening socket", fd, name)
		}
		network := "tcp"
		if domain == unix.AF_UNIX {
			network = "unix"
		}
		spec := Spec{Name: name, Network: network}
		s, err := FromFd(spec, fd)
		if err != nil {
			return nil, err
		}
		s.Address = strings.TrimPrefix(s.bound, "unix:")
		sockets = append(sockets, s)
	}
	return sockets, nil
}

// unnamed is what sd_listen_fds_with_names(3) calls a socket LISTEN_FDNAMES
// does not name.
const unnamed = "unknown"

// listenEnv reads the variables as sd_listen_fds_with_names(3) does, for the
// process pid: the number of descriptors passed to it and LISTEN_FDNAMES
// split at ':' (nil when unset). Without LISTEN_PID or LISTEN_FDS, or for
// another process, the count is 0 and there is no error; a malformed value,
// or names that do not count the descriptors, is an error.
//
// Two departures, for launchers other than systemd, which sends neither:
// LISTEN_FDS=0 is no descriptors, not an error, and an empty LISTEN_FDNAMES
// is taken as unset. The worker package reads the same variables in the
// workers without importing this one; both are tested against
// internal/proctest/listen_env.txt.
func listenEnv(pidVar, fdsVar, namesVar string, pid int) (n int, names []string, err error) {
	if pidVar == "" {
		return 0, nil, nil
	}
	listenPID, err := strconv.Atoi(pidVar)
	if err != nil || listenPID <= 0 {
		return 0, nil, fmt.Errorf("socket activation: LISTEN_PID=%q is not a process id", pidVar)
	}
	if listenPID != pid || fdsVar == "" {
		return 0, nil, nil // meant for another process
	}
	// sd_listen_fds' limit: the last descriptor, 3+n-1, must be an int.
	n, err = strconv.Atoi(fdsVar)
	if err != nil || n < 0 || n > math.MaxInt32-3 {
		return 0, nil, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a number of descriptors", fdsVar)
	}
	if n == 0 || namesVar == "" {
		return n, nil, nil
	}
	names = strings.Split(namesVar, ":")
	if len(names) != n {
		return 0, nil, fmt.Errorf("socket activation: LISTEN_FDNAMES=%q has %d names for LISTEN_FDS=%d", namesVar, len(names), n)
	}
	return n, names, nil
}

// listenName is the name of descriptor i: its LISTEN_FDNAMES entry, or
// "unknown" without one (an empty entry too: systemd never sends one).
func listenName(names []string, i int) string {
	if i < len(names) && names[i] != "" {
		return names[i]
	}
	return unnamed
}
