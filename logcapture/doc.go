// Package logcapture turns what worker processes write to stdout and stderr
// into whole log lines, each prefixed with the app, slot, pid and stream,
// and writes them to log files (reopened on SIGUSR1, or rotated here) or to
// the master's own stdout and stderr. It keeps the last lines in a ring for
// `clusterd logs`, and hands new ones to followers.
//
// Each worker's streams are pipes of their own (OpenPipes), read by one
// goroutine per pipe. Nothing here touches the master's event loop: a
// worker that writes faster than its log drains is slowed down by its own
// full pipe, the back-pressure a terminal or a file gives too, and
// supervision goes on regardless.
package logcapture
