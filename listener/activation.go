package listener

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Inherited returns the listening sockets this process was started with by
// socket activation (a systemd .socket unit, systemd-socket-activate), as
// sd_listen_fds(3) describes: fds 3.. with LISTEN_FDS, LISTEN_FDNAMES and
// LISTEN_PID, which must be our pid. It unsets the variables, so they
// reach no child, and returns nil when there are none.
func Inherited() ([]*Socket, error) {
	defer func() {
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
	}()
	if pid, err := strconv.Atoi(os.Getenv("LISTEN_PID")); err != nil || pid != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a count", os.Getenv("LISTEN_FDS"))
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	sockets := make([]*Socket, 0, n)
	for i := range n {
		fd := 3 + i
		name := "listen" + strconv.Itoa(i)
		if i < len(names) && names[i] != "" && names[i] != "unknown" {
			name = names[i]
		}
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
