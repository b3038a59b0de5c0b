package launch

import (
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/internal/execshim"
)

// Worker is everything one worker process needs.
type Worker struct {
	Cmd        *Command
	Env        []string // the command's environment, without per-worker variables
	Stdio      [3]uintptr
	Sockets    []int  // become fds 3, 4, ...
	FdNames    string // LISTEN_FDNAMES
	NotifyAddr string // NOTIFY_SOCKET
	NotifyPipe int    // write end, becomes NOTIFY_FD
	NodeIPC    int    // the worker's end of the Node IPC channel, -1 for none
	// PreloadIPC hands NodeIPC as PreloadChannelVar, for clusterd's Node
	// preload to claim, instead of as NODE_CHANNEL_FD (see PreloadChannelVar).
	PreloadIPC bool
	Slot       int
	// Instances is how many workers the master runs (CLUSTERD_INSTANCES):
	// a Go worker using package worker takes its share of the CPUs by it.
	Instances  int
	Credential *syscall.Credential // nil: the master's own user
	Watchdog   time.Duration       // WATCHDOG_USEC, 0 for none
	Control    string              // the app's control socket, which marks its workers' trees
}

// Fork is how the trampoline (or the exec shim) is forked to become the
// worker command.
func (w Worker) Fork() Fork {
	files := make([]uintptr, 0, 3+len(w.Sockets)+1)
	files = append(files, w.Stdio[:]...)
	for _, fd := range w.Sockets {
		files = append(files, uintptr(fd))
	}
	notifyFD := len(files)
	files = append(files, uintptr(w.NotifyPipe))
	nodeFD := -1
	if w.NodeIPC >= 0 {
		nodeFD = len(files)
		files = append(files, uintptr(w.NodeIPC))
	}

	// The trampoline writes the worker's pid into the placeholders of
	// env[0] and, when it is one, env[1] (see Trampoline); env[1] is
	// otherwise LISTEN_FDS, whose value is never a placeholder.
	trampoline, _ := Trampoline()
	env := make([]string, 0, len(w.Env)+10)
	if trampoline != "" {
		env = append(env, "LISTEN_PID="+pidPlaceholder)
		if w.Watchdog > 0 {
			env = append(env, "WATCHDOG_PID="+pidPlaceholder)
		}
	}
	env = append(env,
		"LISTEN_FDS="+strconv.Itoa(len(w.Sockets)),
		"LISTEN_FDNAMES="+w.FdNames,
		"NOTIFY_SOCKET="+w.NotifyAddr,
		"NOTIFY_FD="+strconv.Itoa(notifyFD),
		"CLUSTERD_SLOT="+strconv.Itoa(w.Slot),
		ControlVar+"="+w.Control,
		"CLUSTERD_INSTANCES="+strconv.Itoa(max(w.Instances, 1)),
	)
	if trampoline == "" {
		env = append(env, execshim.Var+"="+w.Cmd.Path)
	}
	if nodeFD >= 0 {
		name := "NODE_CHANNEL_FD"
		if w.PreloadIPC {
			name = PreloadChannelVar
		}
		env = append(env, name+"="+strconv.Itoa(nodeFD), "NODE_CHANNEL_SERIALIZATION_MODE=json")
	}
	if w.Watchdog > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(w.Watchdog.Microseconds(), 10))
	}
	env = append(env, w.Env...)
	attr := &syscall.ProcAttr{
		Dir:   w.Cmd.Dir,
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			// A session of its own (the host sets it): a terminal's Ctrl-C
			// reaches only the master, which then stops the workers in
			// order, and what the worker starts can be told apart by its
			// session when the worker is gone.
			Setsid:     true,
			Pdeathsig:  syscall.SIGKILL,
			Credential: w.Credential,
		},
	}
	if trampoline != "" {
		return Fork{Path: trampoline, Argv: append([]string{w.Cmd.Path}, w.Cmd.Argv...), Attr: attr}
	}
	// The shim re-executes this binary from /proc/self/exe, so re-forks
	// keep working after a deploy replaced the binary on disk.
	return Fork{Path: "/proc/self/exe", Argv: w.Cmd.Argv, Attr: attr}
}

// MasterOnlyVars are variables that describe the master's own supervisor,
// sockets or upgrade handshake; a worker must never see them.
var MasterOnlyVars = []string{
	"NOTIFY_SOCKET", "NOTIFY_FD", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
	"WATCHDOG_USEC", "WATCHDOG_PID", "MAINPID", "NODE_CHANNEL_FD", PreloadChannelVar, "NODE_CHANNEL_SERIALIZATION_MODE", "CLUSTERD_LISTEN_PORTS", execshim.Var, "CLUSTERD_SLOT", ControlVar, "CLUSTERD_INSTANCES",
}

// MasterEnvForWorkers is the master's environment without what belongs to the master.
func MasterEnvForWorkers(environ []string) []string {
	env := make([]string, 0, len(environ))
next:
	for _, kv := range environ {
		if strings.HasPrefix(kv, "TABLEFLIP_") {
			continue
		}
		for _, key := range MasterOnlyVars {
			if HasKey(kv, key) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// HasKey: kv is KEY=... for key.
func HasKey(kv, key string) bool {
	return len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key
}

// Fork is one worker process to start: the program (the exec shim), its
// argv and everything else it inherits.
type Fork struct {
	Path string
	Argv []string
	Attr *syscall.ProcAttr
}

// WithVars is env with vars set over it: an existing KEY= entry is
// replaced (getenv reads the first one, so appending would not do).
func WithVars(env, vars []string) []string {
	if len(vars) == 0 {
		return env
	}
	out := make([]string, 0, len(env)+len(vars))
	for _, kv := range env {
		keep := true
		for _, v := range vars {
			if k, _, _ := strings.Cut(v, "="); HasKey(kv, k) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(out, vars...)
}
