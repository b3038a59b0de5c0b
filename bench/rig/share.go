package rig

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// listenShared opens a TCP listening socket on a loopback address as clusterd's master does
// (SO_REUSEADDR, a backlog of net.core.somaxconn, the description non-blocking) and returns
// it as an *os.File that can be handed to children as fd 3. It is what "two bare processes
// sharing one socket" inherit: the physical limit of the shared-socket design, with no
// master at all.
//
// The socket is made here, and not with net.Listen, because it must stay out of the
// suite's own poller (docs/design.md §4: a listener registered with epoll wakes its process on
// every connection, CPU taken from the servers under test) and because os.NewFile on a
// non-blocking descriptor would register it, and exec's Fd() would then switch the shared
// description to blocking mode (docs/design.md §2). So the socket is created blocking, wrapped,
// and only then made non-blocking behind os.File's back.
func listenShared(addr string) (*os.File, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("shared socket: %q is not an IPv4 loopback address", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shared socket: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("shared socket %s: %w", addr, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return fail(err)
	}
	if err := unix.Listen(fd, somaxconn()); err != nil {
		return fail(err)
	}
	f := os.NewFile(uintptr(fd), "shared "+addr)
	if err := unix.SetNonblock(fd, true); err != nil {
		f.Close()
		return nil, fmt.Errorf("shared socket %s: %w", addr, err)
	}
	return f, nil
}

// somaxconn is the backlog Go's net package (and so clusterd's listener) asks for.
func somaxconn() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return unix.SOMAXCONN
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return unix.SOMAXCONN
	}
	return min(n, 1<<16-1)
}

// FreeAddr returns a loopback address with a port that was free a moment ago. Each server in
// a scenario gets its own, so all can run side by side.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
