package master

import (
	"github.com/clusterd/clusterd/notify"
	"golang.org/x/sys/unix"
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
	s, opened, err := m.nodeSockets.Get(req.Host, req.Port)
	if err != nil {
		m.log.Warn("a worker's listen() failed", "slot", p.slot, "pid", p.pid, "host", req.Host, "port", req.Port, "err", err)
		return -1, err
	}
	if opened {
		m.log.Info("listen: opened for the workers' listen()", "address", s.BoundAddress(), "slot", p.slot, "pid", p.pid)
	}
	return unix.FcntlInt(uintptr(s.Fd()), unix.F_DUPFD_CLOEXEC, 0)
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
