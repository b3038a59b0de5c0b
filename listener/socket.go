package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Options tune how sockets are opened.
type Options struct {
	// ReusePort sets SO_REUSEPORT on TCP sockets, so several can bind the
	// same address. OpenGroups then gives every slot its own socket,
	// steered (see Groups.Steer), and falls back to one shared socket per
	// address where the kernel refuses either (Socket.Mode says why).
	ReusePort bool
	// Unsteered keeps, with ReusePort, one socket per slot where the
	// kernel refuses steering, hashed over every slot (Mode ReusePort),
	// instead of falling back to a shared socket.
	Unsteered bool
	// NonBlocking hands the socket over non-blocking, for a receiver that
	// never sets the mode itself: Node takes a handle passed over its IPC
	// channel as it comes, since its cluster primary's sockets are made by
	// libuv, non-blocking; a blocking one would stall its event loop in
	// accept(). Without it the socket is blocking, as systemd hands them.
	NonBlocking bool
}

// Socket is a listening socket held as a bare, close-on-exec descriptor.
// It is safe to pass Fd to a child. The description is handed over in
// blocking mode, as systemd hands its sockets; a worker that wants it
// non-blocking sets that itself (docs/design.md §2).
type Socket struct {
	Spec
	fd int
	// bound is the address the kernel reports, e.g. the real port for ":0".
	bound string
	// owned: we created it, so a unix socket's path is ours to remove.
	// An adopted socket's path belongs to whoever created it (systemd).
	owned bool
	// group is the SO_REUSEPORT group this socket is steered in, nil for a
	// shared socket.
	group *reuseGroup
	// sharedWhy says why an address that was to be steered is shared.
	sharedWhy string
}

// Mode says how the socket's address is served.
func (s *Socket) Mode() Mode {
	switch {
	case s.group == nil:
		return Shared
	case s.group.steered:
		return Steered
	}
	return ReusePort
}

// ModeReason says why an address that was to be steered is not: "" when it
// is steered or sharing was asked for.
func (s *Socket) ModeReason() string {
	if s.group != nil {
		return s.group.why
	}
	return s.sharedWhy
}

// Fd is the descriptor; it stays valid until Close.
func (s *Socket) Fd() int { return s.fd }

// BoundAddress is the address the socket is bound to, with the real port
// when the spec asked for port 0.
func (s *Socket) BoundAddress() string { return s.bound }

// Open creates the listening socket for spec.
func Open(spec Spec, opts Options) (*Socket, error) {
	if spec.Network == "unix" {
		if err := removeStaleUnixSocket(spec.Address); err != nil {
			return nil, err
		}
	}
	lc := net.ListenConfig{}
	if opts.ReusePort && spec.Network == "tcp" { // Linux does not balance unix sockets
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			})
			return errors.Join(err, serr)
		}
	}
	ln, err := lc.Listen(context.Background(), spec.Network, spec.Address)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", spec.String(), unwrapOpError(err))
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		// The socket outlives this net.Listener: closing it must not
		// remove the path that workers are serving.
		ul.SetUnlinkOnClose(false)
	}
	sock, err := detach(spec, ln, opts.NonBlocking)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", spec.String(), err)
	}
	return sock, nil
}

// FromFd adopts an inherited listening descriptor (socket activation, a
// master upgrade). The caller gives up fd. Its blocking mode is left as it
// came: the running workers share the description and chose it.
func FromFd(spec Spec, fd int) (*Socket, error) {
	unix.CloseOnExec(fd)
	s := &Socket{Spec: spec, fd: fd}
	s.bound = boundAddress(fd, spec)
	return s, nil
}

// detach keeps a duplicate descriptor of ln and closes ln, taking the socket
// out of this process's poller.
func detach(spec Spec, ln net.Listener, nonBlocking bool) (*Socket, error) {
	defer ln.Close()
	dup, err := BareFd(ln.(syscall.Conn))
	if err != nil {
		return nil, err
	}
	// Go opened it non-blocking. Hand it over blocking, as systemd does: a
	// worker written for socket activation (a plain accept loop) depends
	// on it, and every event loop (Go's poller, libuv, asyncio) sets
	// O_NONBLOCK itself before its first accept (docs/design.md §2).
	if err := unix.SetNonblock(dup, nonBlocking); err != nil {
		unix.Close(dup)
		return nil, err
	}
	return &Socket{Spec: spec, fd: dup, bound: boundAddress(dup, spec), owned: true}, nil
}

// Close closes the descriptor. The path of a unix socket we created is
// removed too: call it only when no worker will serve the socket again (the
// master's final stop, not a reload or an upgrade).
func (s *Socket) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	if s.group != nil {
		s.group.leave(s)
	}
	if s.Network == "unix" && s.owned {
		if rerr := os.Remove(s.Address); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// Release closes this process's descriptor but leaves a unix socket's path in
// place, for a master handing its sockets on to a successor.
func (s *Socket) Release() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

func boundAddress(fd int, spec Spec) string {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return spec.Address
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrUnix:
		return "unix:" + a.Name
	}
	return spec.Address
}

// removeStaleUnixSocket deletes a socket file that nobody listens on any
// more (left by a crashed master), and refuses to touch a live one or a
// file that is not a socket.
func removeStaleUnixSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen unix:%s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("listen unix:%s: path exists and is not a socket", path)
	}
	conn, err := net.Dial("unix", path)
	if err == nil {
		conn.Close()
		return fmt.Errorf("listen unix:%s: address already in use", path)
	}
	return os.Remove(path)
}

// unwrapOpError drops net.OpError's repetition of the address, which the
// caller already names, keeping "bind: address already in use".
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
