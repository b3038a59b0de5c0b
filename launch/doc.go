// Package launch says what a worker process is started as: the command,
// resolved at start and at every reload (a deploy that swaps a symlink is
// picked up by the next reload, never half-way by a crash re-fork); the user
// it runs as; its environment (the master's, less what belongs to the
// master, plus systemd's LISTEN_* and NOTIFY_* for this worker); and the
// descriptors it inherits, fds 3, 4, ... being its sockets. It builds the
// Fork that the process forks; it forks nothing itself.
package launch
