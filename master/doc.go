// Package master is one app's supervisor: it holds the app's listening
// sockets, keeps one worker per slot, replaces workers that die, and runs
// ready-gated rolling reloads. What there is one of per OS process
// (signals, reaping, upgrades, sd_notify, the metrics endpoint) belongs to
// the process it runs in, which it reaches through Host.
//
// One goroutine, the event loop in Run, owns every piece of mutable state:
// the slots, the worker table, the reload in progress. Nothing else reads
// or writes that state, so there is no mutex around it (the model is
// tableflip's Upgrader.run). Everything reaches the loop as an event, from
// these sources and no others:
//   - signals the process received (Signal): reload, stop, scale, reopen;
//   - worker exits, from the Host's reaper (the main process, then the
//     whole tree: docs/design.md §19);
//   - what workers say: sd_notify datagrams and NOTIFY_FD lines, Node IPC
//     messages (package notify), health-probe results;
//   - control-socket requests (control.go), each on its own goroutine until
//     it posts to the loop;
//   - timers armed on the loop's Clock: start and kill timeouts, back-offs,
//     watchdogs, memory samples, cron_restart;
//   - the reload goroutine (package reload), whose every step is a request
//     to the loop (clusterView);
//   - file changes under --watch (package watch).
//
// Workers are forked by the Host in sessions of their own. They receive the
// sockets as fds 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID as
// sd_listen_fds(3) defines them (package launch builds what they inherit),
// and report readiness with READY=1 on their own NOTIFY_SOCKET or NOTIFY_FD.
// Their stdout and stderr are pipes of their own, read off the loop by
// package logcapture.
package master
