// Package restart is the master's policy for what follows a worker's
// death, apart from the event loop that carries it out, so that the whole
// policy reads in one place and is tested as plain functions of a slot's
// record and the death (docs/design.md §7).
//
// Two kinds of death are told apart. A worker that was ready crashed under
// load: it is replaced at once, since every moment without it is capacity
// lost and its queued requests wait. One that died before it was ready
// failed to start: the release may be broken, so the next try backs off,
// and after MaxRestarts in a row the slot is given up until a reload. In
// between sits the crash loop, a worker that says READY and dies at once,
// over and over: re-forked after a short back-off that never grows past a
// second, so it costs a fork a second rather than hundreds, while a real
// crash storm under load still has its queued requests served.
package restart

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Policy is what the configuration says about restarts.
type Policy struct {
	// RestartDelay is the first wait after a failed start, doubled for each
	// one in a row up to MaxRestartDelay.
	RestartDelay, MaxRestartDelay time.Duration
	// MaxRestarts failed starts in a row are retried; one more errors the
	// slot.
	MaxRestarts int
	// ExpBackoff is PM2's exp_backoff_restart_delay (0: off): every death
	// waits, the wait growing 1.5× per death in a row.
	ExpBackoff time.Duration
	// NoAutorestart: no death is followed by a new worker.
	NoAutorestart bool
	// StopExitCodes are exits on purpose, never restarted.
	StopExitCodes []int
}

// Record is one slot's deaths in a row, which the policy reads and updates.
type Record struct {
	// FailedStarts counts deaths before ready in a row.
	FailedStarts int
	// EarlyCrashes counts deaths in a row within CrashLoopWindow of READY.
	EarlyCrashes int
	// ForkFailures counts forks in a row refused for want of a resource.
	ForkFailures int
	// expDelay is the last wait of ExpBackoff (0: none yet).
	expDelay time.Duration
}

// Ready records that the slot's worker became ready, which ends its run of
// failed starts; the count is returned, for a readiness that is taken back
// (Unready).
func (r *Record) Ready() (failedStarts int) {
	failedStarts, r.FailedStarts = r.FailedStarts, 0
	return failedStarts
}

// Unready takes back a readiness that turned out to be wrong (its
// min-uptime timer fired while news of its death was on the way).
func (r *Record) Unready(failedStarts int) { r.FailedStarts = failedStarts }

// Reset forgets the record: a reload brings a release that deserves a
// fresh start.
func (r *Record) Reset() { r.FailedStarts = 0 }

// Death is what the master knows of a worker that died.
type Death struct {
	WasReady bool
	// SinceReady is how long after its READY it died; Uptime since its fork.
	SinceReady, Uptime time.Duration
	// ExitCode is the exit code, 128+N for signal N, -1 when unknown.
	ExitCode int
}

// Action is what the master does about a death.
type Action int

const (
	// Restart the slot after Decision.Delay.
	Restart Action = iota
	// Stop: the worker exited on purpose and the slot stays empty until a
	// reload.
	Stop
	// Errored: too many failed starts in a row; the slot is given up until
	// a reload.
	Errored
)

// Kind says which kind of death it was, for the log and the metrics.
type Kind string

const (
	Crash       Kind = "crash"
	CrashLoop   Kind = "crash loop"
	FailedStart Kind = "failed start"
)

// Decision is the policy's answer to a death.
type Decision struct {
	Action Action
	Kind   Kind
	Delay  time.Duration
	// Why says why a Stop is not restarted.
	Why string
	// Announce: this crash loop death is worth a log line (the first of
	// the loop and every hundredth).
	Announce bool
}

// A worker that dies within CrashLoopWindow of its READY, CrashLoopBurst
// times in a row, is in a crash loop: re-forked after a back-off of at
// most CrashLoopMaxDelay instead of at once.
const (
	CrashLoopWindow   = 20 * time.Millisecond
	CrashLoopBurst    = 3
	CrashLoopMaxDelay = time.Second
)

// PM2's exp_backoff_restart_delay, as PM2 computes it: the growth and cap
// of the wait, and the uptime after which it starts again from the
// configured value.
const (
	expBackoffGrowth = 1.5
	expBackoffMax    = 15 * time.Second
	expBackoffReset  = 30 * time.Second
)

// WorkerExit is how a master ends when no worker is left to run
// (--no-autorestart, --stop-exit-codes): it exits as a single process
// would, with the last worker's exit code.
type WorkerExit struct{ Code int }

func (e *WorkerExit) Error() string {
	return fmt.Sprintf("no worker left: the last one exited with code %d", e.Code)
}

// LastExit is the master's end after the last worker left to run exited
// with code. A stop exit code means "done on purpose": the master exits 0,
// which systemd's Restart=on-failure reads as a clean stop. With
// --no-autorestart it exits as its last worker did.
func (p Policy) LastExit(code int) *WorkerExit {
	if slices.Contains(p.StopExitCodes, code) {
		code = 0
	}
	return &WorkerExit{Code: code}
}

// AfterDeath decides what follows d, and updates r.
func (p Policy) AfterDeath(r *Record, d Death) Decision {
	if d.WasReady {
		if d.SinceReady < CrashLoopWindow {
			r.EarlyCrashes++
		} else {
			r.EarlyCrashes = 0
		}
	}
	if why := p.noRestart(d.ExitCode); why != "" {
		return Decision{Action: Stop, Why: why, Kind: kindOf(d)}
	}
	switch {
	case d.WasReady && r.EarlyCrashes >= CrashLoopBurst:
		return Decision{
			Kind:     CrashLoop,
			Delay:    Backoff(max(p.RestartDelay, 10*time.Millisecond), r.EarlyCrashes-CrashLoopBurst+1, CrashLoopMaxDelay),
			Announce: r.EarlyCrashes == CrashLoopBurst || r.EarlyCrashes%100 == 0,
		}
	case d.WasReady && p.ExpBackoff > 0:
		return Decision{Kind: Crash, Delay: p.expBackoff(r, d.Uptime)}
	case d.WasReady:
		return Decision{Kind: Crash}
	}
	return p.AfterFailedStart(r, d.Uptime)
}

// AfterFailedStart decides what follows a start that failed, at its fork
// or by a death before ready after uptime.
func (p Policy) AfterFailedStart(r *Record, uptime time.Duration) Decision {
	r.FailedStarts++
	if r.FailedStarts > p.MaxRestarts {
		return Decision{Action: Errored, Kind: FailedStart}
	}
	delay := Backoff(p.RestartDelay, r.FailedStarts, p.MaxRestartDelay)
	if p.ExpBackoff > 0 {
		delay = p.expBackoff(r, uptime)
	}
	return Decision{Kind: FailedStart, Delay: delay}
}

// AfterForkFailure is the wait before retrying a fork the kernel refused
// for want of a resource (EAGAIN, EMFILE): that says nothing about the
// release, so it never counts as a failed start.
func (p Policy) AfterForkFailure(r *Record) time.Duration {
	r.ForkFailures++
	return Backoff(max(p.RestartDelay, 10*time.Millisecond), r.ForkFailures, p.MaxRestartDelay)
}

// Forked records a fork that worked.
func (r *Record) Forked() { r.ForkFailures = 0 }

// IsTransient: a fork failed for want of a resource that may be back in a
// moment.
func IsTransient(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOMEM)
}

func (p Policy) noRestart(exitCode int) string {
	if p.NoAutorestart {
		return "--no-autorestart"
	}
	if exitCode >= 0 && slices.Contains(p.StopExitCodes, exitCode) {
		return fmt.Sprintf("exit code %d is a stop exit code", exitCode)
	}
	return ""
}

func kindOf(d Death) Kind {
	if d.WasReady {
		return Crash
	}
	return FailedStart
}

// expBackoff is the wait before the next worker under ExpBackoff, given how
// long the one that died ran.
func (p Policy) expBackoff(r *Record, uptime time.Duration) time.Duration {
	switch {
	case r.expDelay == 0 || uptime >= expBackoffReset:
		r.expDelay = p.ExpBackoff
	default:
		r.expDelay = min(time.Duration(float64(r.expDelay)*expBackoffGrowth), max(expBackoffMax, p.ExpBackoff))
	}
	return r.expDelay
}

// Backoff is base doubled for each failure after the first, at most limit.
func Backoff(base time.Duration, failures int, limit time.Duration) time.Duration {
	delay := base
	for i := 1; i < failures && delay < limit; i++ {
		delay *= 2
	}
	return min(delay, limit)
}

// ExitCode is a worker's exit code, 128+N for a death by signal N as a
// shell reports it, -1 when unknown.
func ExitCode(status unix.WaitStatus, waitErr error) int {
	switch {
	case waitErr != nil:
		return -1
	case status.Exited():
		return status.ExitStatus()
	case status.Signaled():
		return 128 + int(status.Signal())
	}
	return -1
}

// DescribeExit says how a worker ended, for the log and status.
func DescribeExit(status unix.WaitStatus, waitErr error) string {
	switch {
	case waitErr != nil:
		return "unknown (" + waitErr.Error() + ")"
	case status.Exited():
		return fmt.Sprintf("exit code %d", status.ExitStatus())
	case status.Signaled():
		s := "signal " + unix.SignalName(status.Signal())
		if status.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("status %#x", uint32(status))
}
