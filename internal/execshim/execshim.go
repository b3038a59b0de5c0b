// Package execshim turns a process the master started as its exec shim into
// the worker command, from this package's init, before the rest of the
// clusterd binary initialises.
//
// Why a shim: LISTEN_PID must equal the worker's own PID (sd_listen_fds(3)),
// which a parent cannot know before fork. The master forks its own binary
// (/proc/self/exe, so re-forks keep working after a deploy replaces clusterd
// on disk); the shim sets LISTEN_PID to getpid() and execve()s the command in
// the same process, so no process stays between master and worker. The
// parent-death signal, the process group and the descriptors survive the
// exec, and Go's syscall.Exec restores the soft RLIMIT_NOFILE the shim
// started with (docs/design.md §12).
//
// Why in init: every worker start pays for the shim, and a crash-prone
// server restarts workers dozens of times a second. Since Go 1.21 the spec
// initialises packages in dependency order, ties broken by import path, so
// this package, which imports only os, strconv and syscall, runs before
// fasthttp's compressors, cobra and the rest: measured 3.5 ms per shim when
// it ran from main, against 1.1 ms for a bare Go binary doing the same.
// cmd/clusterd imports it first for that reason; the master imports it for
// Var.
package execshim

import (
	"os"
	"strconv"
	"syscall"
)

// Var carries the resolved command path from the master to the shim; the
// shim removes it before the command runs.
const Var = "CLUSTERD_EXEC_SHIM"

func init() {
	path, ok := os.LookupEnv(Var)
	if !ok {
		return
	}
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !hasKey(kv, Var) && !hasKey(kv, "LISTEN_PID") && !hasKey(kv, "WATCHDOG_PID") {
			env = append(env, kv)
		}
	}
	env = append(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	if _, ok := os.LookupEnv("WATCHDOG_USEC"); ok {
		// As systemd does: the watchdog is this process's, not its children's.
		env = append(env, "WATCHDOG_PID="+strconv.Itoa(os.Getpid()))
	}
	closeOtherFdsOnExec()
	err := syscall.Exec(path, os.Args, env)
	os.Stderr.WriteString("clusterd: exec " + path + ": " + err.Error() + "\n")
	os.Exit(127)
}

func hasKey(kv, key string) bool {
	return len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key
}

// closeOtherFdsOnExec marks every descriptor above the ones clusterd passes
// (stdio, the sockets, NOTIFY_FD, the Node channel) close-on-exec. The master opens all its
// own descriptors close-on-exec, but it may itself have inherited some that
// are not (from a shell, a CI runner, a supervisor); a worker must receive
// none of them.
func closeOtherFdsOnExec() {
	last := 2
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil {
		last += n
	}
	for _, passed := range []string{"NOTIFY_FD", "NODE_CHANNEL_FD", "CLUSTERD_NODE_CHANNEL_FD"} {
		if fd, err := strconv.Atoi(os.Getenv(passed)); err == nil && fd > last {
			last = fd
		}
	}
	const sysCloseRange, closeRangeCloexec = 436, 1 << 2 // close_range(2), Linux 5.11+
	if _, _, errno := syscall.RawSyscall(sysCloseRange, uintptr(last+1), ^uintptr(0), closeRangeCloexec); errno == 0 {
		return
	}
	// Kernels before 5.11: walk the descriptor table.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > last {
			syscall.CloseOnExec(fd)
		}
	}
}
