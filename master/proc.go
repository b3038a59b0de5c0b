package master

import (
	"fmt"
	"time"

	"github.com/clusterd/clusterd/launch"
	"github.com/clusterd/clusterd/listener"
	"github.com/clusterd/clusterd/workerlink"
)

type procState int

const (
	starting procState = iota
	ready
	stopping
)

func (s procState) String() string {
	return [...]string{"starting", "ready", "stopping"}[s]
}

// proc is one worker process. Only the event loop touches its mutable
// fields; a reload goroutine holds it as a reload.Candidate and reads only
// the channels and the fields fixed at creation.
type proc struct {
	id        uint64
	slot      int
	pid       int
	cmd       *launch.Command
	startedAt time.Time
	link      *workerlink.Link
	readyCh   chan struct{} // closed when ready
	exitedCh  chan struct{} // closed when reaped
	// forked is closed once the fork's outcome is known: pid is set (0
	// until then), or forkErr says why there is no process.
	forked  chan struct{}
	forkErr error

	state   procState
	readyAt time.Time
	readyBy string // READY=1, alive for min-uptime, ...
	// failedStartsBefore is its slot's count of failed starts when it
	// became ready, should that readiness prove false.
	failedStartsBefore int
	status             string // the worker's last STATUS= message
	successor          bool   // started by a reload and not yet promoted
	leaderGone         bool   // its main process has exited; the rest of its tree may not have
	reaped             bool   // its whole tree is gone; onExit is coming
	exitStatus         string // "exit code 3", "signal SIGKILL"
	exitCode           int    // 3, 137; -1 when unknown
	// lastPing is the worker's last WATCHDOG=1 (or when it became ready).
	lastPing time.Time
	// overMemory counts samples in a row above --max-memory-restart.
	overMemory int
	// healthFailures counts failed probes of its health socket in a row.
	healthFailures int
	uptime         time.Duration
	diedAt         time.Time // when its main process was reaped
	exited         bool      // onExit has run
	stopReason     string
	startTimer     Timer // min-uptime or listen timeout
	killTimer      Timer
	// closeOnExit are the sockets of its removed slot (scale down), closed
	// when it has exited (see retire).
	closeOnExit listener.Set
}

func newProc(id uint64, slot int, cmd *launch.Command, successor bool, link *workerlink.Link, now time.Time) *proc {
	return &proc{
		id: id, slot: slot, cmd: cmd, startedAt: now, link: link,
		readyCh: make(chan struct{}), exitedCh: make(chan struct{}), forked: make(chan struct{}), successor: successor,
	}
}

func (p *proc) stopStartTimer() {
	if p.startTimer != nil {
		p.startTimer.Stop()
		p.startTimer = nil
	}
}

// Ready, Exited and String make a proc a reload.Candidate.
func (p *proc) Ready() <-chan struct{}  { return p.readyCh }
func (p *proc) Exited() <-chan struct{} { return p.exitedCh }
func (p *proc) String() string          { return fmt.Sprintf("slot %d pid %d", p.slot, p.pid) }
