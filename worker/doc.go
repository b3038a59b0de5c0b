// Package worker is what a worker program imports to run under clusterd: it takes the
// listening sockets the master opened, tells the master when it is ready or stopping, pings
// the watchdog, and counts connections so a worker can drain without dropping a request.
//
// It speaks systemd's protocols, so a worker written for one runs under the other unchanged:
//
//   - Sockets arrive as inherited descriptors 3, 4, … described by LISTEN_FDS,
//     LISTEN_FDNAMES and LISTEN_PID, as in sd_listen_fds(3). [Files], [Listeners] and
//     [NamedListeners] read them once and unset the variables, so the worker's own children
//     do not inherit them. A program not started by a master gets no listeners and no error.
//   - State changes ("READY=1", "STOPPING=1", "WATCHDOG=1") go to NOTIFY_SOCKET, a unix
//     datagram socket as in sd_notify(3), or to NOTIFY_FD, an inherited pipe that gets one
//     line per message (for runtimes without datagram sockets). [Notify] returns
//     (false, nil) when neither is set.
//   - WATCHDOG_USEC and WATCHDOG_PID ask for liveness pings, as in sd_watchdog_enabled(3);
//     [StartWatchdog] sends them.
//
// [Drain] is the part systemd does not have: a connection counter fed from an HTTP
// server's connection-state hook, so a worker told to stop (SIGTERM) can stop accepting,
// answer each further request with "Connection: close", and exit once every connection is
// gone. The package fasthttpworker wires it into a fasthttp server.
//
// The shared sockets carry one trap (docs/design.md §2): O_NONBLOCK lives on the open
// file description, which every worker shares, so one process that turns it off hangs Go
// workers in accept and Close. This package only ever sets the flag, never clears it.
//
// The package uses only the standard library, so it costs a worker program nothing.
// Linux only, like clusterd.
package worker
