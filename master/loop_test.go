package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/launch"
	"github.com/clusterd/clusterd/restart"
)

// The loop's policy, driven through the Host seam with a fake clock: no
// process is forked and no timer waits, so each case runs in milliseconds.
// What only the kernel can show (signals, sockets, trees) is tested end to
// end in cmd/clusterd.

// fakeClock's timers fire only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// advance moves the clock by d, firing every timer that falls due, in
// order of their time.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		var due *fakeTimer
		for i, t := range c.timers {
			if !t.at.After(end) {
				due = t
				c.timers = slices.Delete(c.timers, i, i+1)
				break
			}
		}
		if due == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		c.now = due.at
		fire := !due.stopped
		c.mu.Unlock()
		if fire {
			due.f()
		}
	}
}

// armed waits until a timer is due d from now: one armed by a goroutine
// (the reload's) must exist before the test advances past it.
func (c *fakeClock) armed(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		at := c.now.Add(d)
		found := slices.ContainsFunc(c.timers, func(t *fakeTimer) bool { return !t.stopped && t.at.Equal(at) })
		c.mu.Unlock()
		if found {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no timer was armed for %s from now", d)
}

// fakeHost forks nothing: a "worker" is a pid and its exit callback.
type fakeHost struct {
	mu       sync.Mutex
	envs     map[int][]string // each started worker's environment
	nextPID  int
	exits    map[int]func(Exit)
	signals  []sentSignal
	ids      uint64
	delay    time.Duration
	startErr error
	ready    int
	// forkGate, when set, holds every fork until it is closed: a fork
	// stuck behind others of the process.
	forkGate chan struct{}
}

type sentSignal struct {
	pid int
	sig syscall.Signal
}

func newFakeHost() *fakeHost { return &fakeHost{nextPID: 1000, exits: map[int]func(Exit){}} }

func (h *fakeHost) StartWorker(f launch.Fork, exited func(Exit)) (int, error) {
	h.mu.Lock()
	gate := h.forkGate
	h.mu.Unlock()
	if gate != nil {
		<-gate
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.startErr != nil {
		return 0, h.startErr
	}
	h.nextPID++
	h.exits[h.nextPID] = exited
	if h.envs == nil {
		h.envs = map[int][]string{}
	}
	h.envs[h.nextPID] = f.Attr.Env
	return h.nextPID, nil
}

func (h *fakeHost) SignalWorker(pid int, sig syscall.Signal) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.signals = append(h.signals, sentSignal{pid, sig})
	return nil
}

func (h *fakeHost) Running(pid int) bool { return true }

func (h *fakeHost) WorkerID() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids++
	return h.ids + uint64(time.Now().UnixNano())
}

func (h *fakeHost) ForkDelay() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.delay
}

func (h *fakeHost) AppReady(*Master, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready++
}

func (h *fakeHost) TellSupervisor(string)       {}
func (h *fakeHost) ReloadTook(time.Duration)    {}
func (h *fakeHost) Upgrade(reply func(error))   { reply(errors.New("no upgrades here")) }
func (h *fakeHost) ReloadAll(reply func(error)) { reply(nil) }

// exit makes pid exit with status; tree false leaves its tree behind.
func (h *fakeHost) exit(pid int, status unix.WaitStatus, treeGone bool) {
	h.mu.Lock()
	exited := h.exits[pid]
	h.mu.Unlock()
	exited(Exit{Status: status, TreeGone: treeGone})
}

func (h *fakeHost) signalled(pid int, sig syscall.Signal) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.signals, sentSignal{pid, sig})
}

func exitStatus(code int) unix.WaitStatus { return unix.WaitStatus(code << 8) }

// startingCap is the tests' restart.MaxStarting, the same on every machine.
const startingCap = 4

// loop is a master running on a fake host and clock.
type loop struct {
	t     *testing.T
	m     *Master
	host  *fakeHost
	clock *fakeClock
	ended chan error
}

func startLoop(t *testing.T, edit func(*config.Config)) *loop {
	t.Helper()
	cfg := config.Defaults()
	cfg.Command = []string{"/bin/true"}
	cfg.NoListen = true
	cfg.ControlPath = filepath.Join(t.TempDir(), "c.sock")
	// The master links its socket from the per-user directory: this
	// test's own, not the user's.
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Instances = 1
	if edit != nil {
		edit(&cfg)
	}
	l := &loop{t: t, host: newFakeHost(), clock: newFakeClock(), ended: make(chan error, 1)}
	m, err := newMaster(cfg, l.host, nil, l.clock)
	if err != nil {
		t.Fatal(err)
	}
	m.maxStarting = startingCap
	l.m = m
	ctx, cancel := context.WithCancel(context.Background())
	go func() { l.ended <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		// Whatever still "runs" exits at its stop signal, once forked.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			settled := false
			if !l.m.call(func() { settled = l.m.stopping && len(l.m.forking) == 0 }) || settled {
				break
			}
		}
		for _, pid := range l.livePIDs() {
			l.host.exit(pid, exitStatus(0), true)
		}
		select {
		case <-l.ended:
		case <-time.After(5 * time.Second):
			t.Error("the loop did not end")
		}
	})
	l.waitFor("the first workers to start", func() bool { return len(m.procs) == min(cfg.Instances, startingCap) })
	return l
}

// on runs f on the loop and waits for it.
func (l *loop) on(f func()) {
	l.t.Helper()
	if !l.m.call(f) {
		l.t.Fatal("the loop has ended")
	}
}

// waitFor waits until cond, read on the loop, holds: events the test caused
// (an exit) reach the loop through goroutines of their own.
func (l *loop) waitFor(what string, cond func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ok bool
		if !l.m.call(func() { ok = cond() }) {
			l.t.Fatalf("the loop ended while waiting for %s", what)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// advanceUntil moves the clock by step at a time until cond, read on the
// loop, holds: for timers the loop arms one after another.
func (l *loop) advanceUntil(what string, step time.Duration, cond func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ok bool
		l.on(func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out waiting for %s", what)
		}
		l.clock.advance(step)
		time.Sleep(time.Millisecond)
	}
}

func (l *loop) livePIDs() []int {
	var pids []int
	l.m.call(func() {
		for pid, p := range l.m.procs {
			if !p.reaped {
				pids = append(pids, pid)
			}
		}
	})
	return pids
}

// worker is slot's current worker's pid once it is forked, 0 for none.
func (l *loop) worker(slot int) int {
	var w *proc
	l.on(func() { w = l.m.slots[slot].worker })
	if w == nil {
		return 0
	}
	select {
	case <-w.forked:
	case <-time.After(5 * time.Second):
		l.t.Fatalf("slot %d's worker was not forked", slot)
	}
	pid := 0
	l.on(func() { pid = w.pid })
	return pid
}

func (l *loop) ready(pid int) {
	l.on(func() { l.m.onNotify(l.m.procs[pid], "READY=1") })
}

func (l *loop) slotState(slot int) (s slot) {
	l.on(func() { s = *l.m.slots[slot] })
	return s
}

func TestCrashAfterReadyIsReplacedAtOnce(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady = true })
	first := l.worker(0)
	l.ready(first)
	l.clock.advance(config.Defaults().MinUptime)
	l.host.exit(first, exitStatus(1), true)
	l.waitFor("a new worker", func() bool { w := l.m.slots[0].worker; return w != nil && w.pid != first })
	if s := l.slotState(0); s.restarts != 1 || s.record.FailedStarts != 0 {
		t.Errorf("after a crash: restarts %d, failed starts %d", s.restarts, s.record.FailedStarts)
	}
	if got := l.m.restartCounts["crash"]; got != 1 {
		t.Errorf("crash restarts counted: %d", got)
	}
}

func TestCrashWaitsForTheForkRate(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady = true })
	first := l.worker(0)
	l.ready(first)
	l.clock.advance(config.Defaults().MinUptime)
	l.host.mu.Lock()
	l.host.delay = 50 * time.Millisecond
	l.host.mu.Unlock()
	l.host.exit(first, exitStatus(1), true)
	l.waitFor("the restart to be scheduled", func() bool { return !l.m.slots[0].retryAt.IsZero() })
	if pid := l.worker(0); pid != 0 {
		t.Fatalf("re-forked at once (pid %d) although the fork rate asks for 50ms", pid)
	}
	l.clock.advance(50 * time.Millisecond)
	l.waitFor("the re-fork after 50ms", func() bool { return l.m.slots[0].worker != nil })
}

func TestFailedStartsBackOffThenErrorTheSlot(t *testing.T) {
	l := startLoop(t, func(c *config.Config) {
		c.WaitReady = true
		c.RestartDelay, c.MaxRestartDelay, c.MaxRestarts = 100*time.Millisecond, 300*time.Millisecond, 3
	})
	// Each death before ready doubles the delay: 100ms, 200ms, 300ms (the
	// cap); the fourth in a row gives the slot up.
	for i, delay := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond} {
		pid := l.worker(0)
		l.host.exit(pid, exitStatus(1), true)
		l.waitFor("the back-off", func() bool { return l.m.slots[0].worker == nil && l.m.slots[0].record.FailedStarts == i+1 })
		l.clock.advance(delay - time.Millisecond)
		if l.worker(0) != 0 {
			t.Fatalf("failure %d: restarted before its %s back-off", i+1, delay)
		}
		l.clock.advance(time.Millisecond)
		l.waitFor("the restart after the back-off", func() bool { return l.m.slots[0].worker != nil })
	}
	l.host.exit(l.worker(0), exitStatus(1), true)
	l.waitFor("the slot to be errored", func() bool { return l.m.slots[0].errored })
	l.clock.advance(time.Hour)
	if pid := l.worker(0); pid != 0 {
		t.Errorf("an errored slot was restarted (pid %d)", pid)
	}
}

func TestMinUptimeMakesReadyWithoutWaitReady(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.MinUptime = time.Second })
	pid := l.worker(0)
	l.clock.advance(999 * time.Millisecond)
	l.on(func() {
		if l.m.procs[pid].state != starting {
			t.Error("ready before min-uptime")
		}
	})
	l.clock.advance(time.Millisecond)
	l.waitFor("ready at min-uptime", func() bool { return l.m.procs[pid].state == ready })
	l.host.mu.Lock()
	defer l.host.mu.Unlock()
	if l.host.ready != 1 {
		t.Errorf("the host heard the app ready %d times", l.host.ready)
	}
}

func TestListenTimeoutStopsThenKills(t *testing.T) {
	l := startLoop(t, func(c *config.Config) {
		c.WaitReady, c.ListenTimeout, c.KillTimeout = true, 2*time.Second, 3*time.Second
	})
	pid := l.worker(0)
	l.clock.advance(2 * time.Second)
	l.waitFor("the stop signal", func() bool { return l.host.signalled(pid, syscall.SIGTERM) })
	if l.host.signalled(pid, syscall.SIGKILL) {
		t.Fatal("SIGKILL before the kill timeout")
	}
	l.clock.advance(3 * time.Second)
	l.waitFor("SIGKILL after the kill timeout", func() bool { return l.host.signalled(pid, syscall.SIGKILL) })
	l.host.exit(pid, unix.WaitStatus(syscall.SIGKILL), true)
	l.waitFor("a failed start", func() bool { return l.m.slots[0].record.FailedStarts == 1 })
}

// A wrapper's main process (npm, sh -c) exits while the server it started
// lives on: the rest of the tree is stopped, and the slot is refilled only
// once it is gone, as a crash (the worker was ready).
func TestWrapperTreeIsStoppedBeforeTheSlotIsRefilled(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady = true })
	pid := l.worker(0)
	l.ready(pid)
	l.clock.advance(config.Defaults().MinUptime)
	l.host.exit(pid, exitStatus(0), false)
	l.waitFor("the stop signal to what is left", func() bool { return l.host.signalled(pid, syscall.SIGTERM) })
	if w := l.worker(0); w != pid {
		t.Fatalf("the slot moved on (worker %d) while the tree of %d lives", w, pid)
	}
	l.host.exit(pid, exitStatus(0), true)
	l.waitFor("a new worker once the tree is gone", func() bool { w := l.m.slots[0].worker; return w != nil && w.pid != pid })
	if got := l.m.restartCounts["crash"]; got != 1 {
		t.Errorf("counted as %v, want one crash", l.m.restartCounts)
	}
}

func TestReloadReplacesEverySlotAndQueuesTheNext(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady, c.Instances, c.ReadyGrace = true, 2, 100*time.Millisecond })
	old := []int{l.worker(0), l.worker(1)}
	for _, pid := range old {
		l.ready(pid)
	}
	results := make(chan error, 2)
	l.on(func() {
		l.m.requestReload(func(err error) { results <- err })
		l.m.requestReload(func(err error) { results <- err }) // queued behind the first
	})
	l.on(func() {
		if !l.m.queuedAny {
			t.Error("the second reload is not queued")
		}
	})
	var successors []int
	for slot := range 2 {
		l.waitFor("a successor", func() bool { return len(l.m.procs) == 3 })
		var pid int
		l.on(func() {
			for p, proc := range l.m.procs {
				if proc.successor {
					pid = p
				}
			}
		})
		l.ready(pid)
		l.clock.armed(t, 100*time.Millisecond) // the ready grace
		l.clock.advance(100 * time.Millisecond)
		l.waitFor("the old worker's stop", func() bool { return l.host.signalled(old[slot], syscall.SIGTERM) })
		l.host.exit(old[slot], exitStatus(0), true)
		successors = append(successors, pid)
	}
	if err := <-results; err != nil {
		t.Fatalf("first reload: %v", err)
	}
	// The queued reload runs now: let its successors fail to become ready.
	l.waitFor("the queued reload's successor", func() bool { return l.m.reload != nil && len(l.m.procs) == 3 })
	l.clock.armed(t, config.Defaults().ListenTimeout)
	l.clock.advance(config.Defaults().ListenTimeout)
	if err := <-results; err == nil {
		t.Fatal("the queued reload succeeded although its successor never became ready")
	}
	for slot, pid := range successors {
		if w := l.worker(slot); w != pid {
			t.Errorf("slot %d runs %d after the aborted reload, want %d", slot, w, pid)
		}
	}
}

func TestScaleUpAndDown(t *testing.T) {
	l := startLoop(t, nil)
	l.on(func() {
		if err := l.m.scaleTo(3); err != nil {
			t.Fatal(err)
		}
	})
	l.waitFor("three workers", func() bool { return len(l.m.procs) == 3 })
	last := l.worker(2)
	l.on(func() {
		if err := l.m.scaleTo(2); err != nil {
			t.Fatal(err)
		}
	})
	l.waitFor("the stop of the last slot's worker", func() bool { return l.host.signalled(last, syscall.SIGTERM) })
	l.on(func() {
		if err := l.m.scaleTo(config.MaxInstances + 1); err == nil {
			t.Error("scaled past the cap")
		}
	})
}

// A transient EAGAIN at fork says nothing about the release: it is retried
// with a back-off and never counts toward errored.
func TestForkFailureBacksOff(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady = true })
	pid := l.worker(0)
	l.ready(pid)
	l.clock.advance(config.Defaults().MinUptime)
	l.host.mu.Lock()
	l.host.startErr = syscall.EAGAIN
	l.host.mu.Unlock()
	l.host.exit(pid, exitStatus(1), true)
	l.waitFor("the failed fork to be retried", func() bool { return l.m.slots[0].record.ForkFailures == 1 })
	// Far more than --max-restarts. Each retry's timer is armed by the
	// loop after the previous one failed: advance until the count moves.
	l.advanceUntil("20 failed forks", config.Defaults().MaxRestartDelay, func() bool { return l.m.slots[0].record.ForkFailures >= 20 })
	if s := l.slotState(0); s.errored || s.record.FailedStarts != 0 {
		t.Fatalf("fork failures errored the slot: errored %v, failed starts %d", s.errored, s.record.FailedStarts)
	}
	l.host.mu.Lock()
	l.host.startErr = nil
	l.host.mu.Unlock()
	l.clock.advance(config.Defaults().MaxRestartDelay)
	l.waitFor("the worker once forks work again", func() bool { return l.m.slots[0].worker != nil })
}

// A reload applies the live fields at once and names the fixed ones it
// could not apply, from the one table.
func TestReconfigureFollowsTheTable(t *testing.T) {
	l := startLoop(t, nil)
	var run config.Config
	var notApplied []string
	l.on(func() {
		next := l.m.fixed // what a re-read of the same file gives
		next.KillTimeout = 42 * time.Second
		next.ForkRate = 7
		next.Listen = []string{"127.0.0.1:1"}
		next.Command = []string{"/bin/false"}
		run, notApplied = l.m.reconfigure(next)
		if l.m.cfg.KillTimeout != 42*time.Second {
			t.Errorf("kill_timeout not applied: %s", l.m.cfg.KillTimeout)
		}
		if l.m.cfg.ForkRate == 7 || len(l.m.cfg.Listen) != 0 || l.m.cfg.Command[0] != "/bin/true" {
			t.Error("a fixed or release field changed the running master")
		}
	})
	if run.Command[0] != "/bin/false" {
		t.Errorf("the reload does not run the new command: %v", run.Command)
	}
	if !slices.Equal(notApplied, []string{"listen", "max_fork_rate"}) {
		t.Errorf("not applied: %v, want listen and max_fork_rate", notApplied)
	}
}

// A worker that died before min-uptime is a failed start even when its
// min-uptime timer fired while news of the death was on its way (a busy
// machine): the reaper's time of death decides.
func TestDeathBeforeMinUptimeIsAFailedStartEvenIfReportedLate(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.MinUptime = time.Second })
	pid := l.worker(0)
	diedAt := l.clock.Now().Add(500 * time.Millisecond)
	l.clock.advance(time.Second) // the timer fires first
	l.waitFor("ready by min-uptime", func() bool { return l.m.procs[pid].state == ready })
	l.host.mu.Lock()
	exited := l.host.exits[pid]
	l.host.mu.Unlock()
	exited(Exit{Status: exitStatus(3), TreeGone: true, At: diedAt})
	l.waitFor("a failed start", func() bool { return l.m.slots[0].record.FailedStarts == 1 })
	if got := l.m.restartCounts["crash"]; got != 0 {
		t.Errorf("counted %d crashes", got)
	}
}

// READY=1 and death at once, over and over, is a crash loop: after a few
// in a row it is re-forked after a growing back-off of at most a second,
// not at once, and never errored (a crash storm under load looks the same).
func TestReadyThenDieAtOnceIsACrashLoop(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady = true })
	for deaths := 1; deaths <= restart.CrashLoopBurst+5; deaths++ {
		pid := l.worker(0)
		l.ready(pid)
		l.host.exit(pid, exitStatus(1), true)
		l.waitFor("the death to be judged", func() bool { w := l.m.slots[0].worker; return w == nil || w.pid != pid })
		if deaths < restart.CrashLoopBurst {
			l.waitFor("a re-fork at once", func() bool { return l.m.slots[0].worker != nil })
			continue
		}
		if w := l.worker(0); w != 0 {
			t.Fatalf("death %d in a loop: re-forked at once (%d)", deaths, w)
		}
		l.clock.advance(restart.CrashLoopMaxDelay)
		l.waitFor("the re-fork after the back-off", func() bool { return l.m.slots[0].worker != nil })
	}
	if s := l.slotState(0); s.errored || s.record.FailedStarts != 0 {
		t.Errorf("a crash loop errored the slot (%v) or counted failed starts (%d)", s.errored, s.record.FailedStarts)
	}
}

func TestRestartDelayZeroRestartsAtOnce(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady, c.RestartDelay = true, 0 })
	pid := l.worker(0)
	l.host.exit(pid, exitStatus(1), true)
	l.waitFor("a restart with no delay", func() bool { w := l.m.slots[0].worker; return w != nil && w.pid != pid })
}

// Removing --watchdog by a reload must not kill every worker whose
// watchdog timer was armed (it did: a 0 interval read as "missed").
func TestWatchdogTurnedOffByReloadKillsNothing(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady, c.Watchdog = true, time.Second })
	pid := l.worker(0)
	l.ready(pid)
	l.on(func() {
		next := l.m.fixed
		next.Watchdog = 0
		l.m.reconfigure(next)
	})
	l.clock.advance(10 * time.Second)
	l.on(func() {})
	if l.host.signalled(pid, syscall.SIGKILL) {
		t.Fatal("the worker was killed for a watchdog that is off")
	}
}

func TestStopExitCodesExitZero(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.StopExitCodes = []int{0, 64} })
	l.host.exit(l.worker(0), exitStatus(64), true)
	select {
	case err := <-l.ended:
		l.ended <- err // for the cleanup
		var exit *restart.WorkerExit
		if !errors.As(err, &exit) || exit.Code != 0 {
			t.Fatalf("the master ended with %v, want a worker exit of 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the master did not stop when every slot had stopped on purpose")
	}
}

// A worker's STATUS= reaches an operator's terminal through status: escape
// sequences must not.
func TestStatusTextIsPrintable(t *testing.T) {
	l := startLoop(t, nil)
	pid := l.worker(0)
	l.on(func() {
		l.m.onNotify(l.m.procs[pid], "STATUS=\x1b]0;owned\x07\x1b[2Jserving "+strings.Repeat("x", 500))
	})
	var st string
	l.on(func() { st = l.m.procs[pid].status })
	if strings.ContainsAny(st, "\x1b\x07") || utf8.RuneCountInString(st) > control.MaxMessageRunes+1 {
		t.Errorf("status kept %q", st)
	}
	if !strings.Contains(st, "serving") {
		t.Errorf("status lost its text: %q", st)
	}
}

// every is a cron_restart schedule: every d.
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// cron_restart is a ready-gated rolling reload at each scheduled time.
func TestCronRestartIsARollingReload(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady, c.CronRestart = true, every(time.Hour) })
	old := l.worker(0)
	l.ready(old)
	l.clock.advance(time.Hour)
	l.waitFor("the scheduled reload's successor", func() bool { return l.m.reload != nil && len(l.m.procs) == 2 })
	if l.host.signalled(old, syscall.SIGTERM) {
		t.Fatal("the old worker was stopped before its successor was ready")
	}
}

// Each worker gets PM2's per-instance variables.
func TestWorkersGetTheirInstance(t *testing.T) {
	l := startLoop(t, func(c *config.Config) {
		c.Instances = 2
		c.WorkerEnv = func(slot, n int) []string {
			return []string{fmt.Sprintf("NODE_APP_INSTANCE=%d", slot), fmt.Sprintf("instances=%d", n)}
		}
	})
	for slot := range 2 {
		pid := l.worker(slot)
		l.host.mu.Lock()
		env := l.host.envs[pid]
		l.host.mu.Unlock()
		want := fmt.Sprintf("NODE_APP_INSTANCE=%d", slot)
		if !slices.Contains(env, want) || !slices.Contains(env, "instances=2") {
			t.Errorf("slot %d's environment lacks %s or instances=2", slot, want)
		}
	}
}

// Missing log directories are created, as PM2 creates them.
func TestMissingLogDirectoriesAreCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs", "web")
	startLoop(t, func(c *config.Config) { c.OutFile = filepath.Join(dir, "out.log") })
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("the log directory was not made: %v", err)
	}
}

// A temp cleaner that removes the --node-compat preload must not break
// later re-forks: it is written again before a worker starts.
func TestNodePreloadIsRewrittenWhenRemoved(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady, c.NodeCompat = true, true })
	pid := l.worker(0)
	var preload string
	l.host.mu.Lock()
	for _, kv := range l.host.envs[pid] {
		if options, ok := strings.CutPrefix(kv, "NODE_OPTIONS=--require "); ok {
			preload, _, _ = strings.Cut(options, " ")
		}
	}
	l.host.mu.Unlock()
	if preload == "" {
		t.Fatal("the worker was not given the preload")
	}
	os.RemoveAll(filepath.Dir(preload))
	l.ready(pid)
	l.clock.advance(config.Defaults().MinUptime)
	l.host.exit(pid, exitStatus(1), true)
	l.waitFor("the re-fork", func() bool { w := l.m.slots[0].worker; return w != nil && w.pid != pid })
	if _, err := os.Stat(preload); err != nil {
		t.Fatalf("the preload was not written again: %v", err)
	}
}

// TestExpBackoffGrowsLikePM2s: with PM2's exp_backoff_restart_delay even a
// crash after ready waits, 1.5 times longer per restart in a row (100ms,
// 150ms, 225ms), and a worker that ran 30 s starts the series again.
func TestExpBackoffGrowsLikePM2s(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady = true; c.ExpBackoff = 100 * time.Millisecond })
	crashAfter := func(ran time.Duration) {
		pid := l.worker(0)
		l.ready(pid)
		l.clock.advance(ran)
		l.host.exit(pid, exitStatus(1), true)
		l.waitFor("the back-off", func() bool { w := l.m.slots[0].worker; return w == nil && !l.m.slots[0].retryAt.IsZero() })
	}
	expectWait := func(delay time.Duration) {
		l.clock.advance(delay - time.Millisecond)
		if l.worker(0) != 0 {
			t.Fatalf("restarted before its %s back-off", delay)
		}
		l.clock.advance(time.Millisecond)
		l.waitFor("the restart after "+delay.String(), func() bool { return l.m.slots[0].worker != nil })
	}
	for _, delay := range []time.Duration{100 * time.Millisecond, 150 * time.Millisecond, 225 * time.Millisecond} {
		crashAfter(time.Second)
		expectWait(delay)
	}
	crashAfter(30 * time.Second)
	expectWait(100 * time.Millisecond)
}

// The loop never waits for a fork: status is answered while one is stuck
// (behind 256 others, on a busy machine), and a stop asked for meanwhile
// reaches the worker once it exists.
func TestStatusIsAnsweredWhileAForkWaits(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady = true })
	first := l.worker(0)
	l.ready(first)
	l.clock.advance(config.Defaults().MinUptime)
	gate := make(chan struct{})
	l.host.mu.Lock()
	l.host.forkGate = gate
	l.host.mu.Unlock()
	l.host.exit(first, exitStatus(1), true)
	l.waitFor("the re-fork to be on its way", func() bool { return len(l.m.forking) == 1 })
	answered := make(chan control.Status, 1)
	go func() {
		var st control.Status
		l.m.call(func() { st = l.m.status() })
		answered <- st
	}()
	select {
	case st := <-answered:
		if w := st.Workers[0]; w.State != "starting" || w.PID != 0 {
			t.Errorf("slot 0 while its fork waits: %+v, want starting without a pid", w)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("status was not answered while a fork waited")
	}
	l.m.Signal(syscall.SIGTERM)
	l.waitFor("the stop", func() bool { return l.m.stopping })
	close(gate)
	l.waitFor("the fork", func() bool { return len(l.m.forking) == 0 })
	pid := l.worker(0)
	if pid == 0 || !l.host.signalled(pid, syscall.SIGTERM) {
		t.Fatalf("the worker forked during the stop (pid %d) was not sent SIGTERM", pid)
	}
	l.host.exit(pid, exitStatus(0), true)
	select {
	case <-l.ended:
		l.ended <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not end once the last worker exited")
	}
}

// Hundreds of workers starting at once on a few cores all become ready
// late, and starve the master: the rest wait until a start finishes, or has
// lasted restart.StartHold.
func TestAtMostMaxStartingStartAtOnce(t *testing.T) {
	limit := startingCap
	l := startLoop(t, func(c *config.Config) { c.WaitReady = true; c.Instances = limit + 3 })
	forked := func() int { return len(l.m.procs) + len(l.m.forking) }
	var n int
	l.on(func() { n = forked() })
	if n != limit {
		t.Fatalf("%d workers forked at once, want %d", n, limit)
	}
	var st control.Status
	l.on(func() { st = l.m.status() })
	if w := st.Workers[limit]; w.State != "starting" || w.PID != 0 || !strings.Contains(w.Message, "waiting") {
		t.Errorf("a queued slot's status: %+v", w)
	}
	l.ready(l.worker(0))
	l.waitFor("one more fork once a worker is ready", func() bool { return forked() == limit+1 })
	l.host.exit(l.worker(1), exitStatus(1), true)
	l.waitFor("one more once a starting worker died", func() bool { return l.m.slots[limit+1].worker != nil })
	l.clock.advance(restart.StartHold)
	l.waitFor("the last once the other starts have lasted restart.StartHold", func() bool { return l.m.slots[limit+2].worker != nil })
}
