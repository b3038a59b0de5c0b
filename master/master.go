package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/launch"
	"github.com/clusterd/clusterd/listener"
	"github.com/clusterd/clusterd/logcapture"
	"github.com/clusterd/clusterd/notify"
	"github.com/clusterd/clusterd/reload"
	"github.com/clusterd/clusterd/restart"
	"github.com/clusterd/clusterd/watch"
	"github.com/clusterd/clusterd/workerlink"
)

// ErrStopped is returned to requests that arrive after the master stopped.
var ErrStopped = errors.New("the master has stopped")

// Master supervises one cluster of workers. Create it with New, then Run.
type Master struct {
	cfg     config.Config
	log     *slog.Logger
	pid     int
	host    Host
	clock   Clock
	sockets listener.Groups // sockets[slot] are what that slot's workers get
	control *control.Server
	// template is what every worker starts with: its user, stdin,
	// environment and the --node-compat preload.
	template *launch.Template
	// fixed is the configuration as started, to tell which of a
	// Reconfigure's changes need a new master.
	fixed config.Config
	// configuredInstances is the count the configuration last asked for: a
	// reload scales only when the configuration changes it, and so keeps
	// what clusterd scale set meanwhile.
	configuredInstances int
	logs                *logcapture.Capture // worker output; safe for concurrent use, not the loop's
	startedAt           time.Time

	events chan func() // work for the event loop
	done   chan struct{}

	// Everything below is owned by the event loop.
	slots   []*slot
	procs   map[int]*proc  // by pid, every live child
	forking map[*proc]bool // workers handed to the forker, not yet back (spawn)
	// startQueue are slots whose worker waits for others to finish
	// starting (startWorker); startQueueTimer starts them when the
	// oldest start stops counting.
	startQueue      []*slot
	startQueueTimer Timer
	maxStarting     int             // restart.MaxStarting; tests set their own
	generation      int             // of the newest resolved release
	current         *launch.Command // the newest release that a reload installed; new slots run it
	reload          *reloadRun
	queued          []func(error) // waiters of a reload queued behind the running one
	queuedAny       bool
	lastReload      *control.ReloadOutcome
	stopping        bool
	// allReadyOnce: the master became ready (every slot's first worker).
	allReadyOnce bool
	upgrading    bool // an upgrade of the process is in flight
	upgraded     bool // a new master took over: leave the sockets' paths alone
	// stopAfterUpgrade is why a stop was asked for during an upgrade: it
	// happens once the upgrade has finished, either way.
	stopAfterUpgrade string
	// metricsAddress is where the process serves this app's metrics ("":
	// nowhere); the counts are what it reports, kept by the loop.
	metricsAddress string
	watcher        *watch.Watcher
	restartCounts  map[string]int
	memoryWatching bool // the --max-memory-restart sampling runs
	reloadCounts   map[string]int
	// lastWorkerExit is set when the master stops because no worker is
	// left to run.
	lastWorkerExit *restart.WorkerExit
	cronSeq        int // invalidates an armed cron_restart timer
	// notifyRejected counts notify messages from processes that are not
	// the worker's (clusterd_notify_rejected_total).
	notifyRejected int
	steerFailed    bool // logged once
	// nodeSockets are what the workers' listen() calls had the master open
	// (nodelisten.go), by requested address.
	nodeSockets *listener.OnDemand
}

func newSlot(index int, cmd *launch.Command) *slot {
	return &slot{index: index, cmd: cmd, replacements: map[string]int{}}
}

// slot is one position in the cluster; its worker changes over time.
type slot struct {
	index  int
	worker *proc           // nil while waiting for a restart or errored
	cmd    *launch.Command // the release its workers run
	// record is its deaths in a row, which the restart policy reads.
	record   restart.Record
	restarts int
	errored  bool
	// replacing: a rolling replacement of this slot's worker runs (memory
	// limit); memoryRestarts counts them.
	replacing bool
	// replacements counts rolling replacements by reason (memory, health).
	replacements map[string]int
	// stopped: its last worker exited on purpose (--no-autorestart,
	// --stop-exit-codes); nothing restarts it but a reload.
	stopped bool
	// retrySeq invalidates a pending restart timer when bumped.
	retrySeq int
	retryAt  time.Time
	lastExit string
}

// New checks the configuration, resolves the command, opens the sockets and
// the control socket, or adopts those of handoff (an upgrade). Every error
// names what is wrong in one line. host is the process the app runs in.
func New(cfg config.Config, host Host, handoff *listener.AppHandoff) (m *Master, err error) {
	return newMaster(cfg, host, handoff, realClock{})
}

func newMaster(cfg config.Config, host Host, handoff *listener.AppHandoff, clock Clock) (m *Master, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Whatever New opened is closed again if a later step fails.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	fixed := cfg
	cmd, err := launch.Resolve(cfg.Command, cfg.Dir, 1)
	if err != nil {
		return nil, err
	}
	template, err := launch.NewTemplate(cfg.User, cfg.Group, cfg.NodeCompat)
	if err != nil {
		return nil, err
	}
	undo = append(undo, template.Close)
	if cfg.ControlPath == "" {
		if cfg.ControlPath, err = control.DefaultPath(cfg.Name); err != nil {
			return nil, err
		}
	}
	var sockets listener.Groups
	var ctl *control.Server
	var nodeSockets listener.Set // what the old master's Node workers had it open
	if handoff != nil {
		sockets, ctl = handoff.Sockets, control.Adopt(cfg.ControlPath, handoff.Control)
		nodeSockets = handoff.NodeSockets
		cfg.Instances = len(handoff.Sockets)
	} else {
		if ctl, err = control.Listen(cfg.ControlPath); err != nil {
			return nil, err
		}
		// No master serves this app: what one killed with SIGKILL left of
		// its workers' trees may still hold the sockets (docs/design.md §19).
		if left := launch.StopLeftovers(cfg.ControlPath, cfg.KillTimeout); len(left) > 0 {
			cfg.Logger.Warn("stopped processes left by a master of this app that was killed", "pids", left)
		}
		// One steered socket per slot unless asked to share (docs/design.md
		// §10); --reuseport keeps per-slot sockets where steering is refused.
		sockets, err = listener.OpenApp(listener.AppSockets{Listen: cfg.Listen, Default: config.DefaultListen,
			None: cfg.NoListen, OnDemand: cfg.NodeCompat, Slots: cfg.Instances,
			Options: listener.Options{ReusePort: !cfg.SharedSocket, Unsteered: cfg.ReusePort}})
		if err != nil {
			ctl.Close()
			return nil, err
		}
	}
	undo = append(undo, func() { ctl.Close() }, func() { sockets.Close() })
	// A socket of its own (--control) is linked from the per-user
	// directory, where ls and the verbs look.
	if err := ctl.Point(cfg.Name); err != nil {
		cfg.Logger.Warn("this master is reached by its control socket's path only", "control", cfg.ControlPath, "err", err)
	}
	if err := template.MakeFileDirs(cfg.LogFile, cfg.OutFile, cfg.ErrorFile, cfg.Pidfile); err != nil {
		return nil, err
	}
	logs, err := logcapture.New(cfg.LogOptions())
	if err != nil {
		return nil, err
	}
	m = &Master{
		cfg:                 cfg,
		fixed:               fixed,
		configuredInstances: fixed.Instances,
		log:                 cfg.Logger,
		pid:                 os.Getpid(),
		host:                host,
		clock:               clock,
		sockets:             sockets,
		control:             ctl,
		nodeSockets:         listener.NewOnDemand(maxNodeSockets, template.UID(), nodeSockets),
		template:            template,
		logs:                logs,
		events:              make(chan func(), 64),
		maxStarting:         restart.MaxStarting(),
		done:                make(chan struct{}),
		procs:               make(map[int]*proc),
		forking:             map[*proc]bool{},
		generation:          1,
		restartCounts:       map[string]int{},
		reloadCounts:        map[string]int{},
	}
	m.cfg.Watch = watch.Paths(cfg.Watch, cmd.Dir)
	if err := m.startWatch(); err != nil {
		return nil, err
	}
	undo = append(undo, func() {
		if m.watcher != nil {
			m.watcher.Close()
		}
	})
	cmd.Env = m.template.ReleaseEnv(cfg.Env, m.Addresses())
	m.current = cmd
	for i := range cfg.Instances {
		m.slots = append(m.slots, newSlot(i, cmd))
	}
	return m, nil
}

// Close releases what New opened, for a master that will not Run (another
// app of the same file failed to start); Run does it itself.
func (m *Master) Close() {
	if m.watcher != nil {
		m.watcher.Close()
	}
	m.control.Close()
	m.sockets.Close()
	m.nodeSockets.Close()
	m.template.Close()
	m.logs.Close()
}

// Addresses are the sockets' bound addresses, in fd order.
func (m *Master) Addresses() []string { return m.sockets[0].Addresses() }

// ControlPath is where the control socket listens.
func (m *Master) ControlPath() string { return m.cfg.ControlPath }

// startWatch turns --watch on: a change triggers the normal ready-gated
// rolling reload, so a save that breaks the program aborts the reload and
// the old workers keep serving (PM2's watch restarts abruptly).
func (m *Master) startWatch() error {
	if len(m.cfg.Watch) == 0 {
		return nil
	}
	changed := func(first string) {
		m.post(func() {
			m.log.Info("watch mode: files changed, rolling reload", "first_change", first)
			m.requestReload(func(err error) {
				if err != nil {
					m.log.Error("watch mode: the reload after a change was aborted; the old workers keep serving", "err", err)
				}
			})
		})
	}
	failed := func(err error) { m.post(func() { m.log.Error("watch mode", "err", err) }) }
	w, err := watch.Start(m.cfg.Watch, m.cfg.WatchOptions(), changed, failed)
	m.watcher = w
	return err
}

// Name is the app's name. Other goroutines call it: it reads the start's
// configuration, which nothing writes, not m.cfg, which a reload replaces
// on the loop (a reload never changes the name).
func (m *Master) Name() string { return m.fixed.Name }

// Config is the configuration the master started with.
func (m *Master) Config() config.Config { return m.fixed }

// Run starts the workers and supervises them until ctx ends or a stop
// command comes in; then it stops every worker gracefully and returns nil.
// Signals reach it from the process through Signal.
func (m *Master) Run(ctx context.Context) error {
	m.startedAt = m.clock.Now()
	go m.control.Serve(func(conn *net.UnixConn) { control.Answer(conn, controlApp{m}) })
	m.log.Info("master started", "name", m.cfg.Name, "pid", m.pid, "instances", len(m.slots),
		"listen", m.Addresses(), "command", m.slots[0].cmd.Path, "control", m.cfg.ControlPath)
	for _, s := range m.sockets[0] { // every slot's sockets share their first's mode
		if why := s.ModeReason(); why != "" {
			m.log.Warn("listen: "+string(s.Mode())+" socket instead of one steered socket per worker", "socket", s.Spec.String(), "why", why)
		}
	}
	for _, s := range m.slots {
		m.startWorker(s)
	}
	m.startMemoryWatch()
	m.scheduleCron()

	ctxDone := ctx.Done()
	for !m.stopping || len(m.procs) > 0 || len(m.forking) > 0 {
		select {
		case event := <-m.events:
			event()
			if len(m.startQueue) > 0 {
				m.startQueued()
			}
		case <-ctxDone:
			ctxDone = nil
			m.beginStop("asked to stop")
		}
	}
	close(m.done)
	if m.upgraded {
		// The new master serves these sockets: close our descriptors only.
		m.sockets.Release()
		m.nodeSockets.Set().Release()
	}
	m.Close()
	m.log.Info("master stopped", "name", m.cfg.Name)
	if m.lastWorkerExit != nil {
		return m.lastWorkerExit
	}
	return nil
}

// Signal hands the master a signal the process received: SIGHUP reloads,
// SIGTERM and SIGINT stop (a second one kills), SIGTTIN and SIGTTOU scale by
// one, SIGUSR1 reopens the log files.
func (m *Master) Signal(sig syscall.Signal) {
	m.post(func() { m.onSignal(sig) })
}

// Done is closed once the master's loop has finished.
func (m *Master) Done() <-chan struct{} { return m.done }

// post hands f to the event loop; false once the loop has finished.
func (m *Master) post(f func()) bool {
	select {
	case m.events <- f:
		return true
	case <-m.done:
		return false
	}
}

// call runs f on the event loop and waits for it; false once the loop has
// finished.
func (m *Master) call(f func()) bool {
	finished := make(chan struct{})
	if !m.post(func() { f(); close(finished) }) {
		return false
	}
	select {
	case <-finished:
		return true
	case <-m.done:
		return false
	}
}

// after runs f on the event loop once d has passed. f must check that what
// it was armed for still holds: a timer may fire just after it was stopped.
func (m *Master) after(d time.Duration, f func()) Timer {
	return m.clock.AfterFunc(d, func() { m.post(f) })
}

func (m *Master) onSignal(sig syscall.Signal) {
	switch sig {
	case syscall.SIGHUP:
		m.log.Info("SIGHUP: rolling reload requested")
		m.requestReload(nil)
	case syscall.SIGTTIN, syscall.SIGTTOU: // unicorn's and einhorn's: one more, one fewer
		target := len(m.slots) + 1
		if sig == syscall.SIGTTOU {
			target = len(m.slots) - 1
		}
		if err := m.scaleTo(target); err != nil {
			m.log.Warn(unix.SignalName(sig)+" ignored", "err", err)
		}
	case syscall.SIGUSR1: // logrotate's postrotate
		go m.logs.Reopen("SIGUSR1") // opening a file may block
	case syscall.SIGTERM, syscall.SIGINT:
		if m.stopping {
			m.forceStop(sig)
			return
		}
		m.beginStop(sig.String())
	}
}

// startWorker starts s's worker, or queues s while maxStarting workers are
// starting (restart.MaxStarting says why).
func (m *Master) startWorker(s *slot) {
	if next := m.nextStartFreed(); next > 0 {
		if !slices.Contains(m.startQueue, s) {
			m.startQueue = append(m.startQueue, s)
		}
		m.retryStartQueue(next)
		return
	}
	p, err := m.spawn(s.index, s.cmd, false)
	if err != nil {
		m.startFailed(s, err)
		return
	}
	s.worker = p
}

// nextStartFreed is 0 when another worker may start now, or how long until
// the oldest start stops counting.
func (m *Master) nextStartFreed() time.Duration {
	now := m.clock.Now()
	ages := make([]time.Duration, len(m.forking), len(m.forking)+len(m.procs))
	for _, p := range m.procs {
		if p.state == starting && !p.leaderGone {
			ages = append(ages, now.Sub(p.startedAt))
		}
	}
	return restart.StartWait(ages, m.maxStarting)
}

// retryStartQueue looks at the queue again after d, unless it is already
// due to.
func (m *Master) retryStartQueue(d time.Duration) {
	if m.startQueueTimer == nil {
		m.startQueueTimer = m.after(d, func() {
			m.startQueueTimer = nil
			m.startQueued()
		})
	}
}

// startQueued starts the queued slots that still want a worker, as far as
// maxStarting allows.
func (m *Master) startQueued() {
	for len(m.startQueue) > 0 && m.nextStartFreed() == 0 {
		s := m.startQueue[0]
		m.startQueue = m.startQueue[1:]
		current := s.index < len(m.slots) && m.slots[s.index] == s
		if current && s.worker == nil && !s.errored && !s.stopped && !m.stopping {
			m.startWorker(s)
		}
	}
	if len(m.startQueue) > 0 {
		m.retryStartQueue(m.nextStartFreed())
	}
}

// startFailed handles a worker of s that could not be started, before or
// at its fork.
func (m *Master) startFailed(s *slot, err error) {
	if restart.IsTransient(err) {
		// The machine is short of processes, memory or descriptors for a
		// moment: that says nothing about the release, so it never errors
		// the slot. Try again, backing off up to the longest delay.
		delay := m.cfg.RestartPolicy().AfterForkFailure(&s.record)
		m.log.Error("worker could not be forked; retrying", "slot", s.index, "err", err, "retry_in", delay)
		m.scheduleStart(s, delay)
		return
	}
	m.log.Error("worker failed to start", "slot", s.index, "err", err)
	m.carryOut(s, m.cfg.RestartPolicy().AfterFailedStart(&s.record, 0))
}

// spawn starts a worker process for slot running cmd. A successor belongs to
// a reload until it is promoted.
func (m *Master) spawn(slotIndex int, cmd *launch.Command, successor bool) (*proc, error) {
	// Unique in the process, not only in this app: the id names the
	// worker's abstract notify socket.
	id := m.host.WorkerID()
	w := launch.Worker{
		Cmd:       cmd,
		Env:       launch.WithVars(cmd.Env, m.cfg.WorkerVars(slotIndex, len(m.slots))),
		Sockets:   m.sockets[slotIndex].Fds(),
		FdNames:   m.sockets[slotIndex].Names(),
		Slot:      slotIndex,
		Instances: len(m.slots),
		Watchdog:  m.cfg.Watchdog,
		Control:   m.cfg.ControlPath,
	}
	if err := m.template.Prepare(&w); err != nil {
		return nil, err
	}
	opts := workerlink.Options{MasterPID: m.pid, ID: id, NodeIPC: m.cfg.NodeIPC}
	if m.cfg.HealthCheck != "" {
		opts.HealthDir, opts.App = filepath.Dir(m.cfg.ControlPath), m.cfg.Name
	}
	link, err := workerlink.Open(opts)
	if err != nil {
		return nil, err
	}
	p := newProc(id, slotIndex, cmd, successor, link, m.clock.Now())
	link.Inherit(&w)
	fork := w.Fork()
	// The fork waits for the worker's exec, behind every other fork of the
	// process: on a busy machine 256 of them in a row held this loop, and
	// status with it, for seconds (bench/README.md, "status while workers
	// start"). So it happens off the loop, and onForked takes it from there;
	// meanwhile the worker is starting, with no pid.
	m.forking[p] = true
	go func() {
		pid, err := m.host.StartWorker(fork, func(e Exit) {
			<-p.forked // its pid is known before its exit is
			m.post(func() { m.onReaped(p, e) })
		})
		m.post(func() { m.onForked(p, pid, err) })
	}()
	if successor {
		m.steer() // its slot is off until it takes over
	}
	return p, nil
}

// onForked takes a worker over from its fork: a pid, or why there is none.
// A stop asked for meanwhile is sent now.
func (m *Master) onForked(p *proc, pid int, err error) {
	delete(m.forking, p)
	p.link.Forked()
	if err != nil {
		p.forkErr = fmt.Errorf("start %s: %w", p.cmd.Argv[0], err)
		close(p.forked)
		p.link.Close()
		p.link.Output.Close()
		if p.closeOnExit != nil {
			p.closeOnExit.Close()
		}
		if s := m.slotOf(p); s != nil && s.worker == p {
			s.worker = nil
			if !m.stopping && p.state != stopping {
				m.startFailed(s, p.forkErr)
			}
		}
		m.steer() // a failed successor's slot is on again
		return
	}
	p.pid, p.startedAt = pid, m.clock.Now()
	close(p.forked)
	m.logs.Start(p.link.Output, p.slot, pid)
	m.procs[pid] = p
	if s := m.slotOf(p); s != nil && s.worker == p {
		s.record.Forked()
	}
	if p.link.Health != nil {
		m.scheduleProbe(p)
	}
	if p.link.NodeIPC != nil {
		var listen func(notify.ListenRequest) (int, error)
		if m.cfg.NodeCompat {
			listen = m.nodeListenFor(p)
		}
		p.link.NodeIPC.Serve(func(msg string) { m.post(func() { m.onNotify(p, msg) }) }, listen)
	}
	p.link.Notify.SetLogger(m.log.With("slot", p.slot))
	p.link.Notify.Serve(pid, m.template.UID(),
		func(msg string) { m.post(func() { m.onNotify(p, msg) }) },
		func(sender int32, count int) {
			m.post(func() {
				m.notifyRejected += count
				m.log.Warn("notify messages ignored: the sender is not the worker nor a process it started",
					"slot", p.slot, "worker_pid", p.pid, "sender_pid", sender, "count", count)
			})
		},
		func() { m.post(func() { m.onExit(p) }) })
	switch {
	case p.state == stopping: // asked while it was forked
		m.sendStop(p)
		return
	case m.stopping:
		m.stopProc(p, "master stopping")
		return
	case !m.cfg.WaitReady:
		p.startTimer = m.after(m.cfg.MinUptime, func() {
			// Exited already, with the news on its way (a busy machine):
			// it was not alive for min-uptime.
			if p.state == starting && !p.reaped && !p.leaderGone && m.host.Running(p.pid) {
				m.markReady(p, readyByUptime)
			}
		})
	case !p.successor: // a reload applies its own listen timeout to successors
		p.startTimer = m.after(m.cfg.ListenTimeout, func() {
			if p.state == starting && !p.reaped {
				m.log.Error("worker not ready within listen timeout", "slot", p.slot, "pid", p.pid,
					"listen_timeout", m.cfg.ListenTimeout)
				m.stopProc(p, "not ready within listen timeout")
			}
		})
	}
	m.log.Debug("worker started", "slot", p.slot, "pid", pid, "generation", p.cmd.Generation)
}

func (m *Master) onNotify(p *proc, msg string) {
	if p.exited || p.state == stopping {
		return
	}
	n := notify.Parse(msg)
	if n.Status != "" {
		p.status = control.Printable(n.Status, control.MaxMessageRunes)
	}
	if n.Watchdog {
		p.lastPing = m.clock.Now()
	}
	if n.Ready && p.state == starting {
		if p.reaped {
			// It said READY=1 and then died before we read it: it was
			// ready, so its death is a crash, not a failed start.
			p.state = ready
			close(p.readyCh)
			return
		}
		m.markReady(p, "READY=1")
	}
}

// readyByUptime is why a worker is ready without --wait-ready.
const readyByUptime = "alive for min-uptime"

func (m *Master) markReady(p *proc, why string) {
	p.state = ready
	p.readyBy = why
	p.readyAt = m.clock.Now()
	p.stopStartTimer()
	close(p.readyCh)
	if m.cfg.Watchdog > 0 {
		p.lastPing = p.readyAt
		m.watchWorker(p)
	}
	if s := m.slotOf(p); s != nil && s.worker == p {
		p.failedStartsBefore = s.record.Ready()
	}
	m.log.Info("worker ready", "slot", p.slot, "pid", p.pid, "after", p.readyAt.Sub(p.startedAt).Round(time.Millisecond), "by", why)
	m.steer()
	if !m.allReadyOnce && m.allReady() {
		m.allReadyOnce = true
		m.onAllReady()
	} else {
		m.updateSupervisorStatus()
	}
}

// watchWorker checks that a ready worker keeps pinging WATCHDOG=1 at least
// every --watchdog, as systemd's WatchdogSec= does for a service. This is
// the health check that works with a shared socket, where the master cannot
// address one worker. A worker that misses it gets SIGABRT (a Go worker
// dumps its goroutines to the log), SIGKILL after the kill timeout, and is
// replaced at once: it was ready, so its death counts as a crash.
func (m *Master) watchWorker(p *proc) {
	due := p.lastPing.Add(m.cfg.Watchdog).Sub(m.clock.Now())
	m.after(max(due, 0), func() {
		if p.reaped || p.state != ready || m.cfg.Watchdog <= 0 { // a reload may have turned it off
			return
		}
		silent := m.clock.Now().Sub(p.lastPing)
		if silent < m.cfg.Watchdog {
			m.watchWorker(p) // it pinged meanwhile
			return
		}
		m.log.Error("worker missed its watchdog: SIGABRT", "slot", p.slot, "pid", p.pid,
			"silent_for", silent.Round(time.Millisecond), "watchdog", m.cfg.Watchdog)
		p.stopReason = "missed its watchdog"
		if !p.leaderGone {
			unix.Kill(p.pid, unix.SIGABRT) // the main process: a Go worker dumps its goroutines
		}
		p.killTimer = m.after(m.cfg.KillTimeout, func() {
			if !p.reaped {
				m.host.SignalWorker(p.pid, unix.SIGKILL)
			}
		})
	})
}

func (m *Master) allReady() bool {
	for _, s := range m.slots {
		if s.worker == nil || s.worker.state != ready {
			return false
		}
	}
	return true
}

// stopProc asks a worker's whole tree to drain and exit (SIGTERM to its
// process group and session) and arms SIGKILL for the rest of it after the
// kill timeout.
func (m *Master) stopProc(p *proc, reason string) {
	if p.reaped || p.state == stopping {
		return
	}
	p.state = stopping
	p.stopReason = reason
	p.stopStartTimer()
	if p.pid == 0 {
		return // still being forked: onForked sends the stop
	}
	m.sendStop(p)
}

// sendStop is stopProc's message to the worker, and the SIGKILL after the
// kill timeout.
func (m *Master) sendStop(p *proc) {
	if m.cfg.ShutdownWithMessage && p.link.NodeIPC != nil && p.link.NodeIPC.SendShutdown() == nil {
		// PM2's shutdown_with_message: the kill timeout applies as usual.
	} else if err := m.host.SignalWorker(p.pid, m.cfg.StopSignal); err != nil && !errors.Is(err, unix.ESRCH) {
		m.log.Error("stop signal failed", "signal", m.cfg.StopSignal, "slot", p.slot, "pid", p.pid, "err", err)
	}
	p.killTimer = m.after(m.cfg.KillTimeout, func() {
		if !p.reaped {
			m.log.Warn("worker did not exit within kill timeout: SIGKILL", "slot", p.slot, "pid", p.pid,
				"kill_timeout", m.cfg.KillTimeout)
			m.host.SignalWorker(p.pid, unix.SIGKILL)
		}
	})
}

// onReaped records a worker's exit. While the rest of its tree lives on
// (a wrapper's server), it is stopped like the worker would have been, and
// the worker is gone only with it. What the exit means waits for onExit,
// after the worker's last notify messages have been handled.
func (m *Master) onReaped(p *proc, e Exit) {
	if !p.leaderGone {
		p.leaderGone = true
		defer m.steer() // its slot is off from the first news of its death
		p.exitStatus = restart.DescribeExit(e.Status, nil)
		p.exitCode = restart.ExitCode(e.Status, nil)
		p.diedAt = e.At
		if p.diedAt.IsZero() {
			p.diedAt = m.clock.Now()
		}
		p.uptime = p.diedAt.Sub(p.startedAt).Round(time.Millisecond)
		if p.state == ready && p.readyBy == readyByUptime && p.uptime < m.cfg.MinUptime {
			// Its min-uptime timer fired while news of its death was on
			// the way: it never was alive that long.
			p.state = starting
			if s := m.slotOf(p); s != nil && s.worker == p {
				s.record.Unready(p.failedStartsBefore)
			}
		}
	}
	if !e.TreeGone {
		if p.state != stopping {
			// Its state stays what it was: the death is judged (crash or
			// failed start) once the tree is gone.
			m.log.Info("worker's main process exited; stopping what is left of its tree", "slot", p.slot, "pid", p.pid, "exit", p.exitStatus)
			m.host.SignalWorker(p.pid, m.cfg.StopSignal)
			if p.killTimer != nil {
				p.killTimer.Stop()
			}
			p.killTimer = m.after(m.cfg.KillTimeout, func() {
				if !p.reaped {
					m.host.SignalWorker(p.pid, unix.SIGKILL)
				}
			})
		}
		return
	}
	p.reaped = true
	p.stopStartTimer()
	if p.killTimer != nil {
		p.killTimer.Stop()
	}
	p.link.Notify.WorkerExited()
}

func (m *Master) onExit(p *proc) {
	p.exited = true
	delete(m.procs, p.pid)
	p.link.Close()
	close(p.exitedCh)
	how, uptime := p.exitStatus, p.uptime
	if p.closeOnExit != nil {
		p.closeOnExit.Close()
	}
	defer m.steer()

	s := m.slotOf(p)
	if s != nil && s.worker == p {
		s.worker = nil
		s.lastExit = how
		if !m.stopping {
			m.afterWorkerDeath(s, p, how, uptime)
			return
		}
	}
	level := slog.LevelInfo
	if p.state != stopping {
		level = slog.LevelWarn
	}
	reason := p.stopReason
	if p.successor && p.state != stopping {
		reason = "new worker of a reload died"
	}
	m.log.Log(context.Background(), level, "worker exited", "slot", p.slot, "pid", p.pid, "exit", how,
		"uptime", uptime, "reason", reason)
}

// afterWorkerDeath carries out what the restart policy decides about the
// death of s's worker p (docs/design.md §7): a crash is replaced at once, a
// crash loop and a failed start after a back-off, an exit on purpose not.
func (m *Master) afterWorkerDeath(s *slot, p *proc, how string, uptime time.Duration) {
	defer m.updateSupervisorStatus()
	d := m.cfg.RestartPolicy().AfterDeath(&s.record, restart.Death{
		WasReady: p.state == ready, SinceReady: p.diedAt.Sub(p.readyAt), Uptime: uptime, ExitCode: p.exitCode,
	})
	if d.Action == restart.Stop {
		s.stopped = true
		m.log.Info("worker exited and is not restarted", "slot", s.index, "pid", p.pid, "exit", how,
			"uptime", uptime, "because", d.Why)
		if m.allSlotsStopped() {
			m.lastWorkerExit = m.cfg.RestartPolicy().LastExit(p.exitCode)
			m.beginStop("no worker left to run")
		}
		return
	}
	m.restartCounts[restartReason(p)]++
	s.restarts++
	attrs := []any{"slot", s.index, "pid", p.pid, "exit", how, "uptime", uptime}
	if p.stopReason != "" {
		attrs = append(attrs, "reason", p.stopReason)
	}
	switch d.Kind {
	case restart.CrashLoop:
		if d.Announce {
			m.log.Warn("crash loop: workers die right after saying they are ready; re-forking with a back-off", append(attrs, "in_a_row", s.record.EarlyCrashes, "retry_in", d.Delay)...)
		}
	case restart.Crash:
		if d.Delay > 0 {
			attrs = append(attrs, "retry_in", d.Delay)
		}
		m.log.Warn("worker crashed", attrs...)
	default:
		m.log.Warn("worker failed to start", attrs...)
	}
	m.carryOut(s, d)
}

// carryOut restarts s after the decision's delay, or gives it up.
func (m *Master) carryOut(s *slot, d restart.Decision) {
	if d.Action == restart.Errored {
		s.errored = true
		m.log.Error("slot errored: too many failed starts in a row; it is retried on the next reload",
			"slot", s.index, "failed_starts", s.record.FailedStarts, "max_restarts", m.cfg.MaxRestarts)
		return
	}
	m.scheduleStart(s, d.Delay)
}

func (m *Master) allSlotsStopped() bool {
	for _, s := range m.slots {
		if !s.stopped {
			return false
		}
	}
	return true
}

// restartReason names why p is replaced, for clusterd_worker_restarts_total.
func restartReason(p *proc) string {
	switch {
	case p.stopReason == "missed its watchdog":
		return "watchdog"
	case p.state == ready:
		return "crash"
	}
	return "failed_start"
}

// scheduleStart starts s's next worker after at least delay, and no sooner
// than the fork-rate cap allows.
func (m *Master) scheduleStart(s *slot, delay time.Duration) {
	delay = max(delay, m.host.ForkDelay())
	s.retrySeq++
	if delay == 0 {
		m.startWorker(s)
		return
	}
	seq := s.retrySeq
	s.retryAt = m.clock.Now().Add(delay)
	m.after(delay, func() {
		if s.retrySeq == seq && s.worker == nil && !s.errored && !m.stopping {
			m.startWorker(s)
		}
	})
}

func (m *Master) beginStop(why string) {
	if m.stopping {
		return
	}
	if m.upgrading {
		// The new master takes the sockets over, or does not: only then is
		// it known what a stop may remove.
		m.log.Info("stop asked for during an upgrade: stopping once it has finished", "why", why)
		m.stopAfterUpgrade = why
		return
	}
	m.stopping = true
	m.host.TellSupervisor("STOPPING=1\nSTATUS=stopping: draining all workers")
	m.log.Info("stopping: draining all workers", "why", why, "workers", len(m.procs), "kill_timeout", m.cfg.KillTimeout)
	if m.reload != nil && m.reload.cancel != nil {
		m.reload.cancel()
	}
	for _, s := range m.slots {
		s.retrySeq++
	}
	for _, p := range m.procs {
		m.stopProc(p, "master stopping")
	}
}

// forceStop answers a second SIGINT/SIGTERM during a stop: the operator
// does not want to wait for the drain.
func (m *Master) forceStop(sig syscall.Signal) {
	m.log.Warn("second "+sig.String()+" while stopping: SIGKILL to every worker", "workers", len(m.procs))
	for _, p := range m.procs {
		if !p.reaped {
			m.host.SignalWorker(p.pid, unix.SIGKILL)
		}
	}
}

// reloadOptions are the reload package's view of the configuration.
func (m *Master) reloadOptions() reload.Options {
	return reload.Options{ListenTimeout: m.cfg.ListenTimeout, ReadyGrace: m.cfg.ReadyGrace, After: m.clockAfter}
}

// clockAfter is time.After on the loop's clock, for the reload package.
func (m *Master) clockAfter(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	m.clock.AfterFunc(d, func() { ch <- m.clock.Now() })
	return ch
}
