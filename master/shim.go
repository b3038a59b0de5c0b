package master

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// execShimVar carries the resolved command path from the master to the exec
// shim; the shim removes it before the command runs.
const execShimVar = "CLUSTERD_EXEC_SHIM"

// RunExecShim turns this process into the worker command when the master
// started it as its exec shim, and returns otherwise. Call it first thing in
// main.
//
// Why a shim: LISTEN_PID must equal the worker's own PID (sd_listen_fds(3)),
// which a parent cannot know before fork. The master forks its own binary
// (/proc/self/exe, so re-forks keep working after a deploy replaces clusterd
// on disk); the shim sets LISTEN_PID to getpid() and execve()s the command in
// the same process, so no process stays between master and worker. The
// parent-death signal, the process group and the descriptors survive the
// exec, and Go's syscall.Exec restores the soft RLIMIT_NOFILE the shim
// started with (DESIGN-NOTES 12).
func RunExecShim() {
	path, ok := os.LookupEnv(execShimVar)
	if !ok {
		return
	}
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !hasKey(kv, execShimVar) && !hasKey(kv, "LISTEN_PID") {
			env = append(env, kv)
		}
	}
	env = append(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	closeOtherFdsOnExec()
	err := unix.Exec(path, os.Args, env)
	fmt.Fprintf(os.Stderr, "clusterd: exec %s: %v\n", path, err)
	os.Exit(127)
}

func hasKey(kv, key string) bool {
	return len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key
}

// closeOtherFdsOnExec marks every descriptor above the ones clusterd passes
// (stdio, the sockets, NOTIFY_FD) close-on-exec. The master opens all its
// own descriptors close-on-exec, but it may itself have inherited some that
// are not (from a shell, a CI runner, a supervisor); a worker must receive
// none of them.
func closeOtherFdsOnExec() {
	last := 2
	if n, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil {
		last += n
	}
	if fd, err := strconv.Atoi(os.Getenv("NOTIFY_FD")); err == nil && fd > last {
		last = fd
	}
	if unix.CloseRange(uint(last+1), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	// Kernels before 5.11: walk the descriptor table.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > last {
			unix.CloseOnExec(fd)
		}
	}
}
