// Package listener opens the listening sockets a cluster shares and keeps
// them as bare file descriptors.
//
// The master opens every socket exactly once and hands the same open file
// description to every worker (docs/design.md §1): the accept backlog belongs to
// the socket, so a worker that exits loses no queued connection. The master
// itself never accepts, so its copy must stay out of the Go poller: a
// net.Listener kept open in the master is registered with epoll and wakes the
// master's runtime on every new connection (docs/design.md §4). A Socket is
// therefore only a descriptor, a name for LISTEN_FDNAMES and the address it
// was opened for.
//
// Descriptors are taken with SyscallConn and F_DUPFD_CLOEXEC, never with
// (*net.TCPListener).File, which switches the shared description's mode
// behind the workers' back (docs/design.md §2). A new socket is handed
// over blocking, as systemd hands its own; the workers' event loops make
// it non-blocking.
package listener
