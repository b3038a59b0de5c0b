package process

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/launch"
	"github.com/clusterd/clusterd/master"
)

// children forks every worker of every app and reaps them: the process's
// only caller of wait4. It is one goroutine, locked to its OS thread for
// the process's whole life, and it owns the table of workers:
//   - A worker's parent-death signal belongs to the thread that forked it
//     (golang/go#27505): were that thread to exit, every worker it started
//     would get SIGKILL. This thread never exits.
//   - Forking and reaping on one goroutine means a worker is in the table
//     before its exit can be reaped.
//
// Signalling a worker and asking whether it runs do not queue behind the
// forks (a loop calls them, and must never wait for 256 workers to be
// forked): they read the table under mu, which the goroutine holds while
// it changes the table and while it reaps, so a pid they find there is
// still the worker's.
//
// The process is a child subreaper (PR_SET_CHILD_SUBREAPER): what a worker
// leaves behind (the server an `npm start` or `sh -c` started, a daemon it
// forked) becomes our child, not init's, and is reaped here. Every worker
// leads a session, and so a process group, of its own: signals go to the
// group, and the worker counts as gone only once the group is empty. A
// child in our own session that we did not fork as a worker is someone
// else's (tableflip's new master, a command run with os/exec) and is left
// to whoever waits for it, except as PID 1, where reaping whatever lands on
// us is the job.
type children struct {
	requests chan func()
	quit     chan struct{}
	sigchld  chan struct{} // coalesced: one pending pass covers any number of exits
	session  int           // our own session id
	pid1     bool
	// hostProc: /proc is another pid namespace's (a namespace that kept
	// the host's /proc mounted), so the pids it lists are not ours.
	hostProc bool
	cgroups  *cgroups
	// Written by the goroutine only, under mu; read by the goroutine
	// without it, by others with it.
	mu      sync.Mutex
	workers map[int]*child // by pid (= their group's id), from fork until the group is empty
}

type child struct {
	pid int
	// cgroup is the worker's own cgroup directory, "" without one.
	cgroup     string
	exited     func(master.Exit)
	leaderGone bool
	// leaderReported: the leader's exit went out while its tree lives on.
	leaderReported bool
	status         unix.WaitStatus
	exitedAt       time.Time
}

func startChildren() (*children, error) {
	groups := openCgroups()
	c := &children{
		cgroups:  groups,
		requests: make(chan func()),
		quit:     make(chan struct{}),
		sigchld:  make(chan struct{}, 1),
		session:  mustGetsid(),
		pid1:     os.Getpid() == 1,
		hostProc: procIsAnotherNamespaces(),
		workers:  map[int]*child{},
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("becoming a child subreaper: %w", err)
	}
	go c.run()
	return c, nil
}

func mustGetsid() int {
	sid, err := unix.Getsid(0)
	if err != nil {
		return -1
	}
	return sid
}

func (c *children) run() {
	// Never unlocked: the thread must outlive every worker.
	runtime.LockOSThread()
	// A lost SIGCHLD (the signal channel was full) costs at most this long.
	safety := time.NewTicker(time.Second)
	defer safety.Stop()
	for {
		select {
		case f := <-c.requests:
			f()
		case <-c.sigchld:
			c.reap()
		case <-safety.C:
			c.reap()
		case <-c.quit:
			// The thread ends with the goroutine (it is locked): only now,
			// when no worker is left for its parent-death signal to kill.
			return
		}
	}
}

// stop ends the goroutine once the process has no worker left, and the
// subreaper role with it: orphans go to init again, as they would once the
// process exits (a test runs a process in its own, and goes on).
func (c *children) stop() {
	c.do(func() {})
	close(c.quit)
	c.cgroups.close()
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
}

// do runs f on the goroutine and waits for it.
func (c *children) do(f func()) {
	done := make(chan struct{})
	c.requests <- func() { f(); close(done) }
	<-done
}

// childExited is called on SIGCHLD; it never blocks.
func (c *children) childExited() {
	select {
	case c.sigchld <- struct{}{}:
	default:
	}
}

// start forks a worker in a session, and where it can a cgroup, of its own.
func (c *children) start(f launch.Fork, exited func(master.Exit)) (pid int, err error) {
	c.do(func() {
		attr := *f.Attr
		sys := *attr.Sys
		sys.Setsid, sys.Setpgid = true, false
		attr.Sys = &sys
		var cgroup string
		pid, cgroup, err = c.fork(f.Path, f.Argv, &attr)
		if err == nil {
			c.mu.Lock()
			c.workers[pid] = &child{pid: pid, exited: exited, cgroup: cgroup}
			c.mu.Unlock()
		}
	})
	return pid, err
}

// fork forks and execs, into a cgroup of its own where there are cgroups.
// Only an error of the cgroup itself (fork into one unsupported, or it was
// removed meanwhile) is retried without one; any other error is the
// program's, returned after one try: a broken release is not exec'd twice
// per start.
func (c *children) fork(path string, argv []string, attr *syscall.ProcAttr) (pid int, cgroup string, err error) {
	if c.cgroups.base == "" {
		pid, err = syscall.ForkExec(path, argv, attr)
		return pid, "", err
	}
	dir, fd, cgErr := c.cgroups.create()
	if cgErr == nil {
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, fd
		pid, err = syscall.ForkExec(path, argv, attr)
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = false, 0
		unix.Close(fd)
		if err == nil {
			return pid, dir, nil
		}
		removeCgroup(dir)
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENODEV) {
			return 0, "", err
		}
	}
	if cgErr != nil || !errors.Is(err, unix.ENODEV) {
		// Before Linux 5.7, or a cgroup the kernel will not fork into:
		// the process groups alone, from now on.
		c.cgroups.off(fmt.Sprintf("forking into a cgroup: %v", errors.Join(cgErr, err)))
	}
	pid, err = syscall.ForkExec(path, argv, attr)
	return pid, "", err
}

// signal sends sig to a worker's process group: the worker and whatever
// it started that stayed in its group, which is where a wrapper's (npm,
// sh -c) server is; with a cgroup, to everything in it as well, what left
// the group included. A worker no longer in the table is gone: its pid may
// be someone else's now, and nothing is sent. ESRCH (nothing left) is not
// an error.
func (c *children) signal(pid int, sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.workers[pid]
	if w == nil {
		return unix.ESRCH
	}
	if w.cgroup != "" {
		signalCgroup(w.cgroup, pid, sig)
	}
	// The group's number stays reserved while any member lives, so it
	// cannot name another group yet.
	if err := unix.Kill(-pid, sig); !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// reap collects every exit there is: workers, and the orphans of their
// trees. A worker's exit is reported twice when its tree outlives it (the
// leader at once, then the empty group), once otherwise. It finds zombies
// with waitid(WNOWAIT) and getsid rather than /proc, whose numbers are the
// host's in a pid namespace that kept the host's /proc mounted.
func (c *children) reap() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for pid, w := range c.workers {
		if !w.leaderGone {
			c.reapLeader(pid, w, now)
		}
	}
	for {
		pid := zombieChild()
		if pid <= 0 {
			break
		}
		if w := c.workers[pid]; w != nil && !w.leaderGone {
			c.reapLeader(pid, w, now)
			continue
		}
		if sid, err := unix.Getsid(pid); err == nil && sid == c.session && !c.pid1 {
			// A child of our own session that is not a worker: whoever
			// started it (tableflip, os/exec) waits for it.
			break
		}
		var status unix.WaitStatus
		unix.Wait4(pid, &status, unix.WNOHANG, nil) // an orphan of a worker's tree
	}
	for pid, w := range c.workers {
		if !w.leaderGone {
			continue
		}
		switch {
		case !groupAlive(pid) && (w.cgroup == "" || !cgroupPopulated(w.cgroup)):
			delete(c.workers, pid)
			removeCgroup(w.cgroup)
			go w.exited(master.Exit{Status: w.status, TreeGone: true, At: w.exitedAt})
		case !w.leaderReported:
			w.leaderReported = true
			go w.exited(master.Exit{Status: w.status, At: w.exitedAt})
		}
	}
}

func (c *children) reapLeader(pid int, w *child, now time.Time) {
	var status unix.WaitStatus
	got, err := unix.Wait4(pid, &status, unix.WNOHANG, nil)
	if got == pid || errors.Is(err, unix.ECHILD) {
		w.leaderGone, w.status, w.exitedAt = true, status, now
	}
}

// running: worker pid's main process has not exited, reported or not. An
// exit not yet reaped is seen with waitid(WNOWAIT), which leaves it to reap.
func (c *children) running(pid int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.workers[pid]
	if w == nil || w.leaderGone {
		return false
	}
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && siginfoPID(&info) == 0
}

// groupAlive: some process is left in process group pgid.
func groupAlive(pgid int) bool {
	return !errors.Is(unix.Kill(-pgid, 0), unix.ESRCH)
}

// zombieChild is the pid of a child of ours that has exited and is not yet
// reaped, without reaping it; 0 for none.
func zombieChild() int {
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
		return 0
	}
	return siginfoPID(&info)
}

// siginfoPID is si_pid: the first field of the union that follows
// si_signo, si_errno and si_code, aligned to a pointer (the kernel's ABI).
// Zero when waitid found nothing.
func siginfoPID(info *unix.Siginfo) int {
	offset := (3*unsafe.Sizeof(int32(0)) + unsafe.Sizeof(uintptr(0)) - 1) &^ (unsafe.Sizeof(uintptr(0)) - 1)
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), offset)))
}

// orphan is a child of ours that we did not fork as a worker.
type orphan struct {
	pid, session int
	zombie       bool
}

// orphans lists our live children that are not live workers, from
// /proc/self/task/*/children: a child hangs off the thread that forked it,
// and an orphan off whichever thread the kernel chose.
func (c *children) orphans() []orphan {
	var out []orphan
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		raw, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(raw)) {
			pid, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			if c.hostProc {
				if pid = pidHere(pid); pid <= 0 {
					continue
				}
			}
			if w := c.workers[pid]; w != nil && !w.leaderGone {
				continue
			}
			if session, err := unix.Getsid(pid); err == nil {
				out = append(out, orphan{pid: pid, session: session})
			}
		}
	}
	return out
}

// procIsAnotherNamespaces: /proc/self names us by a pid that is not ours,
// so /proc belongs to an outer pid namespace.
func procIsAnotherNamespaces() bool {
	self, err := os.Readlink("/proc/self")
	return err == nil && self != strconv.Itoa(os.Getpid())
}

// pidHere turns a pid of the outer /proc into ours: the last of the
// status file's NSpid numbers is the pid in the innermost namespace, the
// process's own, which is ours for our children. 0 if it is gone.
func pidHere(procPID int) int {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(procPID) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				return 0
			}
			pid, _ := strconv.Atoi(fields[len(fields)-1])
			return pid
		}
	}
	return 0
}

// nonWorkerChildren are our live children in our own session: tableflip's
// new process, during an upgrade.
func (c *children) nonWorkerChildren() (pids []int) {
	c.do(func() {
		for _, o := range c.orphans() {
			if o.session == c.session && !o.zombie {
				pids = append(pids, o.pid)
			}
		}
	})
	return pids
}

// killLeftovers ends what is left of the workers' trees when the process
// stops: processes of a worker's session, and daemons that left it.
func (c *children) killLeftovers() {
	c.do(func() {
		for _, o := range c.orphans() {
			if o.session != c.session {
				unix.Kill(o.pid, unix.SIGKILL)
			}
		}
	})
}
