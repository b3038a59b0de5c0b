// Package master is the supervisor: it owns the listening sockets, starts
// one worker process per slot, replaces workers that die, and performs
// ready-gated rolling reloads.
//
// One goroutine, the event loop in Run, owns every piece of mutable state:
// the slots, the worker table, the reload in progress. Signals, worker exits
// (SIGCHLD), readiness messages, control-socket commands and timers reach it
// as events; nothing else reads or writes that state, so there is no mutex
// around it (the model is tableflip's Upgrader.run).
//
// Workers are direct children of the master, each in its own process group,
// started from one goroutine locked to its OS thread so their parent-death
// signal stays armed for the master's whole life (golang/go#27505). They
// receive the sockets as fds 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and
// LISTEN_PID as sd_listen_fds(3) defines them, and report readiness with
// READY=1 on their own NOTIFY_SOCKET or NOTIFY_FD. Their stdout and stderr
// are pipes of their own, read off the event loop into whole, prefixed log
// lines (logs.go).
package master
