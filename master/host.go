package master

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/launch"
)

// Host is what an app's master needs from the process it runs in: the
// process forks and reaps every worker (one thread, one wait4 for all apps),
// signals whole worker trees, speaks for the process to its own supervisor,
// and runs upgrades and reloads of every app. Package process implements it;
// the loop's unit tests give a fake that forks nothing.
//
// A master calls these from its event loop, except StartWorker: none of
// them may wait on that loop, nor on a fork, and the callbacks they take
// run on goroutines of their own.
type Host interface {
	// StartWorker forks f and returns once its exec has begun, which may
	// be after every fork queued before it: the master calls it off its
	// loop. exited runs once the worker's main process has been reaped
	// while others of its tree live on (TreeGone false), and once its
	// whole tree is gone (TreeGone true).
	StartWorker(f launch.Fork, exited func(Exit)) (pid int, err error)
	// SignalWorker sends sig to the worker's process group and whatever is
	// left of its session; an error for a worker already gone.
	SignalWorker(pid int, sig syscall.Signal) error
	// Running: the worker's main process has not exited (an exit not yet
	// reported counts as exited).
	Running(pid int) bool
	// WorkerID is unique in the process: it names a worker's notify socket.
	WorkerID() uint64
	// ForkDelay is how long a crash's re-fork waits under the fork-rate
	// cap, which every app of the process shares.
	ForkDelay() time.Duration
	// AppReady: every slot of m has had a ready worker (the first time);
	// status is its STATUS= line.
	AppReady(m *Master, status string)
	// TellSupervisor passes sd_notify lines (STATUS=, RELOADING=1, READY=1)
	// to the process's own supervisor, if it has one.
	TellSupervisor(state string)
	// ReloadTook reports how long a rolling reload of the app took,
	// successful or not, for the process's metrics.
	ReloadTook(d time.Duration)
	// Upgrade replaces the whole process with the binary on disk (every
	// app); ReloadAll reloads every app. reply gets the outcome.
	Upgrade(reply func(error))
	ReloadAll(reply func(error))
}

// Exit reports a worker's exit: the main process's wait status, and whether
// the rest of its tree (a wrapper's children) is gone too.
type Exit struct {
	Status   unix.WaitStatus
	TreeGone bool
	// At is when the main process was reaped (zero: now).
	At time.Time
}

// Clock is the loop's time: the real one, or a fake that tests advance.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
