package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/cloudflare/tableflip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterd/clusterd/listener"
	"github.com/clusterd/clusterd/reload"
)

// ErrStopped is returned to requests that arrive after the master stopped.
var ErrStopped = errors.New("the master has stopped")

// Master supervises one cluster of workers. Create it with New, then Run.
type Master struct {
	cfg     Config
	log     *slog.Logger
	pid     int
	sockets listener.Groups // sockets[slot] are what that slot's workers get
	control *controlServer
	spawner *spawner
	devNull *os.File
	// credential is who workers run as (--user/--group), nil for the
	// master's own user.
	credential *syscall.Credential
	// workerEnv is the environment every release's own Env goes over: the
	// master's, without what belongs to the master.
	workerEnv []string
	// nodePreload is the --node-compat preload's path.
	nodePreload string
	// fixed is the configuration as started, to tell which of a
	// Reconfigure's changes need a new master.
	fixed Config
	// configuredInstances is the count the configuration last asked for: a
	// reload scales only when the configuration changes it, and so keeps
	// what clusterd scale set meanwhile.
	configuredInstances int
	logs                *logCapture // worker output; safe for concurrent use, not the loop's
	// forkLimit is the machine-wide cap on re-forks of crashed workers
	// (DESIGN-NOTES 7): a crash storm costs capacity, not the machine.
	forkLimit *rate.Limiter
	startedAt time.Time

	events chan func() // work for the event loop
	done   chan struct{}

	// Everything below is owned by the event loop.
	slots      []*slot
	procs      map[int]*proc // by pid, every live child
	generation int           // of the newest resolved release
	current    *command      // the newest release that a reload installed; new slots run it
	reload     *reloadRun
	queued     []func(error) // waiters of a reload queued behind the running one
	queuedAny  bool
	lastReload *ReloadOutcome
	stopping   bool
	// allReadyOnce: the master became ready (every slot's first worker).
	allReadyOnce bool
	supervised   bool // started with NOTIFY_SOCKET: speak sd_notify
	// upgrader replaces this master with the binary on disk (nil when
	// tableflip is unavailable, upgradeUnavailable says why).
	upgrader           *tableflip.Upgrader
	upgradeUnavailable string
	upgrading          bool // an upgrade is in flight
	upgraded           bool // a new master took over: leave the sockets' paths alone
	// metrics is the --metrics endpoint (nil without it); the counts are
	// what it reports, kept by the loop.
	metrics        *metricsServer
	reloadDuration prometheus.Histogram
	watcher        *watcher
	// nodePreloadDir holds the --node-compat preload; removed at exit.
	nodePreloadDir string
	restartCounts  map[string]int
	memoryWatching bool // the --max-memory-restart sampling runs
	reloadCounts   map[string]int
	// lastWorkerExit is set when the master stops because no worker is
	// left to run.
	lastWorkerExit      *WorkerExit
	supervisorErrLogged bool
}

func newSlot(index int, cmd *command) *slot {
	return &slot{index: index, cmd: cmd, replacements: map[string]int{}}
}

// slot is one position in the cluster; its worker changes over time.
type slot struct {
	index  int
	worker *proc    // nil while waiting for a restart or errored
	cmd    *command // the release its workers run
	// failedStarts counts consecutive deaths before ready.
	failedStarts int
	restarts     int
	errored      bool
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
// the control socket. Every error names what is wrong in one line.
func New(cfg Config) (m *Master, err error) {
	if err := cfg.validate(); err != nil {
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
	// tableflip first: a master started by an upgrade takes its sockets
	// and control socket from the old one instead of opening its own.
	upgrader, upgradeErr := processUpgrader(cfg.UpgradeTimeout)
	upgraded, err := takeUpgradeFiles(upgrader, cfg.Name)
	if err != nil {
		return nil, err
	}
	fixed := cfg
	cmd, err := resolveCommand(cfg.Command, cfg.Dir, 1)
	if err != nil {
		return nil, err
	}
	credential, userEnv, err := workerCredential(cfg.User, cfg.Group)
	if err != nil {
		return nil, err
	}
	if cfg.ControlPath == "" {
		if cfg.ControlPath, err = DefaultControlPath(cfg.Name); err != nil {
			return nil, err
		}
	}
	var sockets listener.Groups
	var control *controlServer
	if upgraded != nil {
		sockets, control = upgraded.groups, &controlServer{path: cfg.ControlPath, ln: upgraded.control}
		cfg.Instances = upgraded.instances
	} else {
		if control, err = listenControl(cfg.ControlPath); err != nil {
			return nil, err
		}
		if sockets, err = openSockets(&cfg); err != nil {
			control.close()
			return nil, err
		}
	}
	undo = append(undo, func() { control.close() }, func() { sockets.Close() })
	devNull, err := openDevNull()
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { devNull.Close() })
	logs, err := newLogCapture(cfg)
	if err != nil {
		return nil, err
	}
	var metrics *metricsServer
	if cfg.Metrics != "" {
		if metrics, err = listenMetrics(cfg.Metrics, upgrader); err != nil {
			return nil, err
		}
		undo = append(undo, metrics.release)
	}
	m = &Master{
		cfg:                 cfg,
		fixed:               fixed,
		configuredInstances: fixed.Instances,
		log:                 cfg.Logger,
		pid:                 os.Getpid(),
		sockets:             sockets,
		control:             control,
		spawner:             newSpawner(),
		devNull:             devNull,
		logs:                logs,
		workerEnv:           withUserEnv(workerEnv(os.Environ()), userEnv),
		credential:          credential,
		forkLimit:           rate.NewLimiter(rate.Limit(cfg.ForkRate), cfg.ForkBurst),
		events:              make(chan func(), 64),
		done:                make(chan struct{}),
		procs:               make(map[int]*proc),
		generation:          1,
		supervised:          hasSupervisor(),
		upgrader:            upgrader,
		metrics:             metrics,
		reloadDuration:      newReloadDuration(),
		restartCounts:       map[string]int{},
		reloadCounts:        map[string]int{},
	}
	if upgradeErr != nil {
		m.upgrader, m.upgradeUnavailable = nil, upgradeErr.Error()
	}
	m.cfg.Watch = watchPaths(cfg.Watch, cmd.dir)
	if cfg.NodeCompat {
		dir, preload, err := writeNodePreload()
		if err != nil {
			return nil, err
		}
		undo = append(undo, func() { os.RemoveAll(dir) })
		m.nodePreloadDir, m.nodePreload = dir, preload
	}
	cmd.env = m.releaseEnv(cfg.Env)
	m.current = cmd
	for i := range cfg.Instances {
		m.slots = append(m.slots, newSlot(i, cmd))
	}
	startingMasters.Add(1)
	return m, nil
}

// Close releases what New opened, for a master that will not Run (another
// app of the same file failed to start); Run does it itself.
func (m *Master) Close() {
	if m.metrics != nil {
		m.metrics.release()
	}
	if m.nodePreloadDir != "" {
		os.RemoveAll(m.nodePreloadDir)
	}
	m.control.close()
	m.sockets.Close()
	m.devNull.Close()
	m.logs.close()
}

// openSockets opens the listening sockets of every slot: those of socket
// activation (systemd, or any sd_listen_fds launcher) are served as they
// are, the rest are bound here.
func openSockets(cfg *Config) (listener.Groups, error) {
	if cfg.NoListen {
		// Workers that serve no socket (queue consumers, schedulers) get
		// LISTEN_FDS=0; every slot has the same empty set.
		return make(listener.Groups, cfg.Instances), nil
	}
	inherited, err := listener.Inherited()
	if err != nil {
		return nil, err
	}
	if len(cfg.Listen) == 0 && len(inherited) == 0 {
		cfg.Listen = []string{DefaultListen}
	}
	specs := make([]listener.Spec, len(cfg.Listen))
	for i, value := range cfg.Listen {
		if specs[i], err = listener.Parse(value, i); err != nil {
			return nil, err
		}
	}
	return listener.OpenGroupsWith(inherited, specs, cfg.Instances, listener.Options{ReusePort: cfg.ReusePort})
}

// Addresses are the sockets' bound addresses, in fd order.
func (m *Master) Addresses() []string {
	addrs := make([]string, len(m.sockets[0]))
	for i, s := range m.sockets[0] {
		addrs[i] = s.BoundAddress()
	}
	return addrs
}

// ControlPath is where the control socket listens.
func (m *Master) ControlPath() string { return m.cfg.ControlPath }

// Run starts the workers and supervises them until ctx ends, SIGTERM or
// SIGINT arrives, or a stop command comes in; then it stops every worker
// gracefully and returns nil. SIGHUP starts a rolling reload.
func (m *Master) Run(ctx context.Context) error {
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD,
		syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR2, syscall.SIGUSR1)
	defer signal.Stop(signals)
	// With SIGPIPE notified, a write to our stdout or stderr after its
	// reader went away fails with EPIPE instead of killing the master and
	// every worker with it. Not on signals: a flood of them must not crowd
	// out SIGCHLD.
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, syscall.SIGPIPE)
	defer signal.Stop(sigpipe)

	m.startedAt = time.Now()
	joinUpgrades(m)
	defer leaveUpgrades(m)
	go m.control.serve(m.handleControl)
	if m.metrics != nil {
		m.metrics.attach(m)
	}
	if err := m.startWatch(); err != nil {
		m.log.Error("watch mode is off", "err", err)
	}
	m.log.Info("master started", "name", m.cfg.Name, "pid", m.pid, "instances", len(m.slots),
		"listen", m.Addresses(), "command", m.slots[0].cmd.path, "control", m.cfg.ControlPath)
	for _, s := range m.slots {
		m.startWorker(s)
	}
	m.startSupervisorWatchdog()
	m.startMemoryWatch()

	ctxDone := ctx.Done()
	for !m.stopping || len(m.procs) > 0 {
		select {
		case sig := <-signals:
			m.onSignal(sig.(syscall.Signal))
		case event := <-m.events:
			event()
		case <-ctxDone:
			ctxDone = nil
			m.beginStop("asked to stop")
		}
	}
	close(m.done)
	if m.watcher != nil {
		m.watcher.close()
	}
	if m.metrics != nil {
		m.metrics.detach(m)
		m.metrics = nil
	}
	m.removePidfile()
	if m.upgraded {
		// The new master serves these sockets: close our descriptors only.
		for _, set := range m.sockets {
			for _, s := range set {
				s.Release()
			}
		}
	}
	m.Close()
	m.log.Info("master stopped", "name", m.cfg.Name)
	if m.lastWorkerExit != nil {
		return m.lastWorkerExit
	}
	return nil
}

// WorkerExit is Run's error when the master stopped because no worker was
// left to run (--no-autorestart, --stop-exit-codes): the master exits with
// the last worker's exit code, as a single process would.
type WorkerExit struct{ Code int }

func (e *WorkerExit) Error() string {
	return fmt.Sprintf("no worker left: the last one exited with code %d", e.Code)
}

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
func (m *Master) after(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() { m.post(f) })
}

func (m *Master) onSignal(sig syscall.Signal) {
	switch sig {
	case syscall.SIGCHLD:
		m.reap()
	case syscall.SIGHUP:
		m.log.Info("SIGHUP: rolling reload requested")
		m.requestReload(nil)
	case syscall.SIGUSR2: // nginx's and unicorn's: replace the master binary
		if !m.leadsUpgrades() {
			return // every master of the process gets it; one acts for all
		}
		m.requestUpgrade(func(err error) {
			if err != nil {
				m.log.Warn("SIGUSR2 upgrade not done", "err", err)
			}
		})
	case syscall.SIGTTIN, syscall.SIGTTOU: // unicorn's and einhorn's: one more, one fewer
		target := len(m.slots) + 1
		if sig == syscall.SIGTTOU {
			target = len(m.slots) - 1
		}
		if err := m.scaleTo(target); err != nil {
			m.log.Warn(sig.String()+" ignored", "err", err)
		}
	case syscall.SIGUSR1: // logrotate's postrotate
		go m.reopenLogs("SIGUSR1")
	case syscall.SIGTERM, syscall.SIGINT:
		if m.stopping {
			m.forceStop(sig)
			return
		}
		m.beginStop(sig.String())
	}
}

// reap collects the exit status of each of our own children that has
// exited. It never waits for "any child": that would steal exits from
// other code in the process (DESIGN-NOTES 11). As PID 1 (a container's
// init) it does, because reaping the orphans that land on PID 1 is then
// the job: nobody else would, and they would pile up as zombies.
func (m *Master) reap() {
	if m.pid == 1 {
		m.reapAny()
		return
	}
	for pid, p := range m.procs {
		var status unix.WaitStatus
		if p.reaped {
			continue
		}
		got, err := unix.Wait4(pid, &status, unix.WNOHANG, nil)
		if got == pid || errors.Is(err, unix.ECHILD) {
			m.onReaped(p, status, err)
		}
	}
}

// children maps the pid of every live worker of every master in this
// process to its master. Several apps run one master each in one process;
// as PID 1 each reaps any child, and hands an exit to the master that owns
// it. A pid is added under the lock in the same step as the fork, so no
// exit can be reaped before its owner is known.
var children = struct {
	sync.Mutex
	owner map[int]*Master
}{owner: map[int]*Master{}}

// workerIDs numbers the workers of every master in this process.
var workerIDs atomic.Uint64

func (m *Master) reapAny() {
	for {
		var status unix.WaitStatus
		children.Lock()
		pid, err := unix.Wait4(-1, &status, unix.WNOHANG, nil)
		owner := children.owner[pid]
		children.Unlock()
		if pid <= 0 || err != nil {
			return
		}
		switch {
		case owner == m:
			if p, ok := m.procs[pid]; ok && !p.reaped {
				m.onReaped(p, status, nil)
			}
		case owner != nil:
			// In a goroutine: two loops must never wait on each other.
			go owner.post(func() {
				if p, ok := owner.procs[pid]; ok && !p.reaped {
					owner.onReaped(p, status, nil)
				}
			})
		default:
			m.log.Debug("reaped an orphan", "pid", pid, "exit", describeExit(status, nil))
		}
	}
}

func (m *Master) startWorker(s *slot) {
	p, err := m.spawn(s.index, s.cmd, false)
	if err != nil {
		m.log.Error("worker failed to start", "slot", s.index, "err", err)
		m.afterFailedStart(s)
		return
	}
	s.worker = p
}

// spawn starts a worker process for slot running cmd. A successor belongs to
// a reload until it is promoted.
func (m *Master) spawn(slotIndex int, cmd *command, successor bool) (_ *proc, err error) {
	// Unique in the process, not only in this master: the id names the
	// worker's abstract notify socket, and several apps' masters may share
	// a process.
	id := workerIDs.Add(1)
	// What this worker's start opened is closed again if the start fails.
	var undo []func()
	defer func() {
		if err != nil {
			for _, f := range undo {
				f()
			}
		}
	}()
	endpoint, err := openNotify(m.pid, id)
	if err != nil {
		return nil, err
	}
	undo = append(undo, endpoint.close)
	output, err := openWorkerOutput()
	if err != nil {
		return nil, err
	}
	undo = append(undo, output.close)
	stdout, stderr := output.stdio()
	sockets, fdNames := m.sockets[slotIndex].Fds(), m.sockets[slotIndex].Names()
	var health *listener.Socket
	if m.cfg.HealthCheck != "" {
		if health, err = m.openHealthSocket(id); err != nil {
			return nil, err
		}
		undo = append(undo, func() { health.Close() })
		sockets, fdNames = append(sockets, health.Fd()), fdNames+":health"
	}
	var ipc *nodeChannel
	nodeIPC := -1
	if m.cfg.NodeIPC {
		if ipc, err = openNodeChannel(); err != nil {
			return nil, err
		}
		undo = append(undo, ipc.close)
		nodeIPC = int(ipc.worker.Fd())
	}
	children.Lock()
	pid, err := m.spawner.start(workerStart{
		cmd:        cmd,
		env:        cmd.env,
		stdio:      [3]uintptr{m.devNull.Fd(), stdout, stderr},
		sockets:    sockets,
		fdNames:    fdNames,
		notifyAddr: endpoint.addr,
		notifyPipe: int(endpoint.pipeW.Fd()),
		nodeIPC:    nodeIPC,
		slot:       slotIndex,
		credential: m.credential,
		watchdog:   m.cfg.Watchdog,
	})
	if err == nil {
		children.owner[pid] = m
	}
	children.Unlock()
	// The worker has its copies of the pipe's and the channel's ends.
	endpoint.afterStart()
	if ipc != nil {
		ipc.worker.Close()
	}
	if err != nil {
		return nil, err
	}
	m.logs.capture(output, slotIndex, pid)
	p := newProc(id, slotIndex, pid, cmd, successor, endpoint)
	m.procs[pid] = p
	if p.health = health; health != nil {
		m.scheduleProbe(p)
	}
	if p.ipc = ipc; ipc != nil {
		ipc.serve(func(msg string) { m.post(func() { m.onNotify(p, msg) }) })
	}
	endpoint.log = m.log.With("slot", p.slot)
	endpoint.serve(pid,
		func(msg string) { m.post(func() { m.onNotify(p, msg) }) },
		func(sender int32) {
			m.post(func() {
				m.log.Warn("notify message ignored: sender is not the worker or its child",
					"slot", p.slot, "worker_pid", p.pid, "sender_pid", sender)
			})
		},
		func() { m.post(func() { m.onExit(p) }) })
	switch {
	case !m.cfg.WaitReady:
		p.startTimer = m.after(m.cfg.MinUptime, func() {
			if p.state == starting && !p.reaped {
				m.markReady(p, "alive for min-uptime")
			}
		})
	case !successor: // a reload applies its own listen timeout to successors
		p.startTimer = m.after(m.cfg.ListenTimeout, func() {
			if p.state == starting && !p.reaped {
				m.log.Error("worker not ready within listen timeout", "slot", p.slot, "pid", p.pid,
					"listen_timeout", m.cfg.ListenTimeout)
				m.stopProc(p, "not ready within listen timeout")
			}
		})
	}
	m.log.Debug("worker started", "slot", slotIndex, "pid", pid, "generation", cmd.generation)
	return p, nil
}

func (m *Master) onNotify(p *proc, msg string) {
	if p.exited || p.state == stopping {
		return
	}
	n := parseNotify(msg)
	if n.status != "" {
		p.status = n.status
	}
	if n.watchdog {
		p.lastPing = time.Now()
	}
	if n.ready && p.state == starting {
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

func (m *Master) markReady(p *proc, why string) {
	p.state = ready
	p.readyAt = time.Now()
	p.stopStartTimer()
	close(p.readyCh)
	if m.cfg.Watchdog > 0 {
		p.lastPing = p.readyAt
		m.watchWorker(p)
	}
	if s := m.slotOf(p); s != nil && s.worker == p {
		s.failedStarts = 0
	}
	m.log.Info("worker ready", "slot", p.slot, "pid", p.pid, "after", p.readyAt.Sub(p.startedAt).Round(time.Millisecond), "by", why)
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
	due := time.Until(p.lastPing.Add(m.cfg.Watchdog))
	m.after(max(due, 0), func() {
		if p.reaped || p.state != ready {
			return
		}
		silent := time.Since(p.lastPing)
		if silent < m.cfg.Watchdog {
			m.watchWorker(p) // it pinged meanwhile
			return
		}
		m.log.Error("worker missed its watchdog: SIGABRT", "slot", p.slot, "pid", p.pid,
			"silent_for", silent.Round(time.Millisecond), "watchdog", m.cfg.Watchdog)
		p.stopReason = "missed its watchdog"
		unix.Kill(p.pid, unix.SIGABRT)
		p.killTimer = m.after(m.cfg.KillTimeout, func() {
			if !p.reaped {
				unix.Kill(-p.pid, unix.SIGKILL)
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

// stopProc asks a worker to drain and exit (SIGTERM) and arms SIGKILL for
// its whole process group after the kill timeout.
func (m *Master) stopProc(p *proc, reason string) {
	// Once reaped, the pid may belong to someone else: never signal it.
	if p.reaped || p.state == stopping {
		return
	}
	p.state = stopping
	p.stopReason = reason
	p.stopStartTimer()
	if m.cfg.ShutdownWithMessage && p.ipc != nil && p.ipc.sendShutdown() == nil {
		// PM2's shutdown_with_message: the kill timeout applies as usual.
	} else if err := unix.Kill(p.pid, m.cfg.StopSignal); err != nil && !errors.Is(err, unix.ESRCH) {
		m.log.Error("stop signal failed", "signal", m.cfg.StopSignal, "slot", p.slot, "pid", p.pid, "err", err)
	}
	p.killTimer = m.after(m.cfg.KillTimeout, func() {
		if !p.reaped {
			m.log.Warn("worker did not exit within kill timeout: SIGKILL", "slot", p.slot, "pid", p.pid,
				"kill_timeout", m.cfg.KillTimeout)
			unix.Kill(-p.pid, unix.SIGKILL)
		}
	})
}

// onReaped records a worker's exit status. What the exit means waits for
// onExit, after the worker's last notify messages have been handled.
func (m *Master) onReaped(p *proc, status unix.WaitStatus, waitErr error) {
	children.Lock()
	delete(children.owner, p.pid)
	children.Unlock()
	p.reaped = true
	p.exitStatus = describeExit(status, waitErr)
	p.exitCode = exitCode(status, waitErr)
	p.uptime = time.Since(p.startedAt).Round(time.Millisecond)
	p.stopStartTimer()
	if p.killTimer != nil {
		p.killTimer.Stop()
	}
	p.endpoint.workerExited()
}

func (m *Master) onExit(p *proc) {
	p.exited = true
	delete(m.procs, p.pid)
	p.endpoint.close()
	if p.health != nil {
		p.health.Close()
	}
	if p.ipc != nil {
		p.ipc.close()
	}
	close(p.exitedCh)
	how, uptime := p.exitStatus, p.uptime

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

// afterWorkerDeath tells the two kinds of death apart (DESIGN-NOTES 7). A
// worker that was ready crashed under load: replace it at once, limited only
// by the machine-wide fork rate. One that died before it was ready failed to
// start: back off, and give the slot up after MaxRestarts in a row.
func (m *Master) afterWorkerDeath(s *slot, p *proc, how string, uptime time.Duration) {
	defer m.updateSupervisorStatus()
	if why := m.noRestartReason(p); why == "" {
		m.restartCounts[restartReason(p)]++
	} else {
		s.stopped = true
		m.log.Info("worker exited and is not restarted", "slot", s.index, "pid", p.pid, "exit", how,
			"uptime", uptime, "because", why)
		if m.allSlotsStopped() {
			m.lastWorkerExit = &WorkerExit{Code: p.exitCode}
			m.beginStop("no worker left to run")
		}
		return
	}
	s.restarts++
	if p.state == ready {
		m.log.Warn("worker crashed", "slot", s.index, "pid", p.pid, "exit", how, "uptime", uptime,
			"reason", p.stopReason)
		m.scheduleStart(s, 0)
		return
	}
	m.log.Warn("worker failed to start", "slot", s.index, "pid", p.pid, "exit", how, "uptime", uptime,
		"reason", p.stopReason)
	m.afterFailedStart(s)
}

// noRestartReason says why a worker's exit must not be followed by a new
// worker, or "" when it must.
func (m *Master) noRestartReason(p *proc) string {
	if m.cfg.NoAutorestart {
		return "--no-autorestart"
	}
	if p.exitCode >= 0 && slices.Contains(m.cfg.StopExitCodes, p.exitCode) {
		return fmt.Sprintf("exit code %d is a stop exit code", p.exitCode)
	}
	return ""
}

func (m *Master) allSlotsStopped() bool {
	for _, s := range m.slots {
		if !s.stopped {
			return false
		}
	}
	return true
}

// exitCode is the worker's exit code, 128+N for a death by signal N as a
// shell reports it, -1 when unknown.
func exitCode(status unix.WaitStatus, waitErr error) int {
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

func (m *Master) afterFailedStart(s *slot) {
	s.failedStarts++
	if s.failedStarts > m.cfg.MaxRestarts {
		s.errored = true
		m.log.Error("slot errored: too many failed starts in a row; it is retried on the next reload",
			"slot", s.index, "failed_starts", s.failedStarts-1, "max_restarts", m.cfg.MaxRestarts)
		return
	}
	delay := m.cfg.RestartDelay << (s.failedStarts - 1)
	if delay > m.cfg.MaxRestartDelay || delay <= 0 {
		delay = m.cfg.MaxRestartDelay
	}
	m.scheduleStart(s, delay)
}

// scheduleStart starts s's next worker after at least delay, and no sooner
// than the fork-rate cap allows.
func (m *Master) scheduleStart(s *slot, delay time.Duration) {
	delay = max(delay, m.forkLimit.Reserve().Delay())
	s.retrySeq++
	if delay == 0 {
		m.startWorker(s)
		return
	}
	seq := s.retrySeq
	s.retryAt = time.Now().Add(delay)
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
	m.stopping = true
	m.tellSupervisor("STOPPING=1\nSTATUS=stopping: draining all workers")
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
			unix.Kill(-p.pid, unix.SIGKILL)
		}
	}
}

func describeExit(status unix.WaitStatus, waitErr error) string {
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

// reloadOptions are the reload package's view of the configuration.
func (m *Master) reloadOptions() reload.Options {
	return reload.Options{ListenTimeout: m.cfg.ListenTimeout, ReadyGrace: m.cfg.ReadyGrace}
}
