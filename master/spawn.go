package master

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/internal/execshim"
)

// spawner forks workers from one goroutine locked to its OS thread for the
// master's whole life. The parent-death signal belongs to the thread that
// forked (golang/go#27505): were that thread to exit, every worker it
// started would receive SIGKILL.
type spawner struct {
	requests chan spawnRequest
}

type spawnRequest struct {
	path  string // what to execute; the exec shim, /proc/self/exe, by default
	argv  []string
	attr  *syscall.ProcAttr
	reply chan spawnResult
}

type spawnResult struct {
	pid int
	err error
}

func newSpawner() *spawner {
	s := &spawner{requests: make(chan spawnRequest)}
	go func() {
		// Never unlocked: the thread must outlive every worker.
		runtime.LockOSThread()
		for r := range s.requests {
			if r.path == "" {
				r.path = "/proc/self/exe"
			}
			pid, err := syscall.ForkExec(r.path, r.argv, r.attr)
			r.reply <- spawnResult{pid, err}
		}
	}()
	return s
}

// workerStart is everything one worker process needs.
type workerStart struct {
	cmd        *command
	env        []string // the command's environment, without per-worker variables
	stdio      [3]uintptr
	sockets    []int  // become fds 3, 4, ...
	fdNames    string // LISTEN_FDNAMES
	notifyAddr string // NOTIFY_SOCKET
	notifyPipe int    // write end, becomes NOTIFY_FD
	nodeIPC    int    // the worker's end of the Node IPC channel, -1 for none
	slot       int
	credential *syscall.Credential // nil: the master's own user
	watchdog   time.Duration       // WATCHDOG_USEC, 0 for none
}

// start forks the exec shim, which becomes the worker command.
func (s *spawner) start(w workerStart) (int, error) {
	files := make([]uintptr, 0, 3+len(w.sockets)+1)
	files = append(files, w.stdio[:]...)
	for _, fd := range w.sockets {
		files = append(files, uintptr(fd))
	}
	notifyFD := len(files)
	files = append(files, uintptr(w.notifyPipe))
	nodeFD := -1
	if w.nodeIPC >= 0 {
		nodeFD = len(files)
		files = append(files, uintptr(w.nodeIPC))
	}

	env := make([]string, 0, len(w.env)+6)
	env = append(env, w.env...)
	env = append(env,
		"LISTEN_FDS="+strconv.Itoa(len(w.sockets)),
		"LISTEN_FDNAMES="+w.fdNames,
		"NOTIFY_SOCKET="+w.notifyAddr,
		"NOTIFY_FD="+strconv.Itoa(notifyFD),
		"CLUSTERD_SLOT="+strconv.Itoa(w.slot),
		execshim.Var+"="+w.cmd.path,
	)
	if nodeFD >= 0 {
		env = append(env, "NODE_CHANNEL_FD="+strconv.Itoa(nodeFD), "NODE_CHANNEL_SERIALIZATION_MODE=json")
	}
	if w.watchdog > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(w.watchdog.Microseconds(), 10))
	}
	attr := &syscall.ProcAttr{
		Dir:   w.cmd.dir,
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			// Its own process group: a terminal's Ctrl-C reaches only the
			// master, which then stops the workers in order.
			Setpgid:    true,
			Pdeathsig:  syscall.SIGKILL,
			Credential: w.credential,
		},
	}
	reply := make(chan spawnResult, 1)
	s.requests <- spawnRequest{argv: w.cmd.argv, attr: attr, reply: reply}
	r := <-reply
	if r.err != nil {
		return 0, fmt.Errorf("start %s: %w", w.cmd.argv[0], r.err)
	}
	return r.pid, nil
}

// masterOnlyVars are variables that describe the master's own supervisor,
// sockets or upgrade handshake; a worker must never see them.
var masterOnlyVars = []string{
	"NOTIFY_SOCKET", "NOTIFY_FD", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
	"WATCHDOG_USEC", "WATCHDOG_PID", "MAINPID", "NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE", "CLUSTERD_LISTEN_PORTS", execshim.Var, "CLUSTERD_SLOT",
}

// workerEnv is the master's environment without what belongs to the master.
func workerEnv(environ []string) []string {
	env := make([]string, 0, len(environ))
next:
	for _, kv := range environ {
		if strings.HasPrefix(kv, "TABLEFLIP_") {
			continue
		}
		for _, key := range masterOnlyVars {
			if hasKey(kv, key) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// openDevNull gives workers a stdin that is not the master's terminal.
func openDevNull() (*os.File, error) {
	return os.OpenFile(os.DevNull, os.O_RDONLY, 0)
}

func hasKey(kv, key string) bool {
	return len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key
}
