package master

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/listener"
	"github.com/clusterd/clusterd/notify"
)

// Ports the way Node's cluster module does them (docs/design.md §21): a
// Node worker's server.listen(port) that matches none of the app's own
// sockets asks the master, which opens that address once, on the host the
// app named, and hands every worker of the app the same socket. The master
// keeps it for its lifetime, across reloads, and hands it to a new master
// on an upgrade, so a PM2 app needs no listen in its file.

// maxNodeSockets bounds the addresses an app's workers may have the
// master open and keep: a worker cannot make it hold sockets without end.
const maxNodeSockets = 16

// nodeListen answers a worker's listen request with a duplicate of the
// socket for its address, opening it on the first request.
func (m *Master) nodeListen(p *proc, req notify.ListenRequest) (int, error) {
	if req.Port < 0 || req.Port > 65535 {
		return -1, fmt.Errorf("port %d is not from 0 to 65535: %w", req.Port, unix.EINVAL)
	}
	if req.Host != "" && net.ParseIP(req.Host) == nil {
		return -1, fmt.Errorf("host %q is not an IP address: %w", req.Host, unix.EINVAL)
	}
	addr := net.JoinHostPort(req.Host, strconv.Itoa(req.Port))
	s := m.nodeSockets[addr]
	if s == nil {
		if len(m.nodeSockets) >= maxNodeSockets {
			return -1, fmt.Errorf("the app's workers asked for more than %d addresses: %w", maxNodeSockets, unix.EMFILE)
		}
		// The master binds for the workers, so it must not bind what they
		// could not: a port below the unprivileged range for workers that
		// run as another user than root.
		if req.Port != 0 && req.Port < unprivilegedPortStart() && m.credential != nil && m.credential.Uid != 0 {
			return -1, fmt.Errorf("port %d is privileged and the workers run as uid %d: %w", req.Port, m.credential.Uid, unix.EACCES)
		}
		var err error
		spec := listener.Spec{Name: "node" + strconv.Itoa(len(m.nodeSockets)), Network: "tcp", Address: addr}
		if s, err = listener.Open(spec, listener.Options{NonBlocking: true}); err != nil {
			m.log.Warn("a worker's listen() failed", "slot", p.slot, "pid", p.pid, "address", addr, "err", err)
			return -1, err
		}
		m.nodeSockets[addr] = s
		m.log.Info("listen: opened for the workers' listen()", "address", s.BoundAddress(), "slot", p.slot, "pid", p.pid)
	}
	return unix.FcntlInt(uintptr(s.Fd()), unix.F_DUPFD_CLOEXEC, 0)
}

// unprivilegedPortStart is the lowest port any user may bind (1024 unless
// the administrator changed it).
func unprivilegedPortStart() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return 1024
}

// nodeListenFor is what a worker's channel calls with a listen request: the
// answer comes from the loop, which owns the sockets.
func (m *Master) nodeListenFor(p *proc) func(notify.ListenRequest) (int, error) {
	return func(req notify.ListenRequest) (fd int, err error) {
		if !m.call(func() { fd, err = m.nodeListen(p, req) }) {
			return -1, ErrStopped
		}
		return fd, err
	}
}

// adoptNodeSockets takes the sockets an old master's workers asked for.
func (m *Master) adoptNodeSockets(set listener.Set) {
	m.nodeSockets = make(map[string]*listener.Socket, len(set))
	for _, s := range set {
		m.nodeSockets[s.Spec.Address] = s
	}
}

// nodeSocketSet is the workers' sockets as a set, in a stable order.
func (m *Master) nodeSocketSet() listener.Set {
	set := make(listener.Set, 0, len(m.nodeSockets))
	for _, s := range m.nodeSockets {
		set = append(set, s)
	}
	slices.SortFunc(set, func(a, b *listener.Socket) int { return strings.Compare(a.Spec.Address, b.Spec.Address) })
	return set
}

// nodeAddresses are the addresses the master opened for its workers'
// listen() calls.
func (m *Master) nodeAddresses() []string {
	set := m.nodeSocketSet()
	addrs := make([]string, len(set))
	for i, s := range set {
		addrs[i] = s.BoundAddress()
	}
	return addrs
}
