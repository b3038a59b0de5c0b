// Package process owns what there is one of per OS process: the signals
// (the only signal.Notify), the children (the only wait4, the child
// subreaper), the upgrader (tableflip), what the process tells its own
// supervisor (sd_notify, MAINPID, the watchdog), the pidfiles, the metrics
// endpoints, worker ids, the fork-rate cap, and the set of apps, each a
// master.Master with its own event loop.
//
// Its parts run as an actor group (github.com/oklog/run): the loop that owns
// the set of apps, the signal router, and the watchdog. The first to return
// stops the others, so the order of teardown follows from the group: the
// apps end, then signals are released. Apps hear from the process through
// their own loops (master.Signal, worker exits), and tell it things
// through the master.Host it gives each of them.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/cloudflare/tableflip"
	"github.com/oklog/run"
	"golang.org/x/time/rate"

	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/master"
)

// Options configure a Process.
type Options struct {
	// Apps reads the configuration of every app to run: at the start, and
	// again on SIGHUP and `clusterd reload --all`, when the apps it has
	// gained (or that were stopped by hand) are started.
	Apps func() ([]config.Config, error)
	// Logger gets the process's own lines; each app logs through its
	// Config.Logger.
	Logger *slog.Logger
}

// What is one per process is configured by the first app: its ForkRate and
// ForkBurst cap re-forks of crashed workers over every app, and its
// UpgradeTimeout bounds an upgrade of the whole process (the command line
// sets them for every app of a file alike).

// Process runs apps. Make it with New, then Run it once.
type Process struct {
	opts       Options
	log        *slog.Logger
	pid        int
	children   *children
	upgrader   *tableflip.Upgrader // nil when upgrades are unavailable: upgradeErr says why
	upgradeErr error
	forkLimit  *rate.Limiter
	workerIDs  atomic.Uint64
	notifier   *supervisorNotifier

	events chan func() // work for the loop
	done   chan struct{}

	// Owned by the loop.
	apps     map[string]*app
	metrics  map[string]*metricsEndpoint // by address
	ready    bool                        // every app started at the beginning is ready
	stopping bool
	// upgrading: an upgrade runs; stopAfterUpgrade is why a stop waits
	// for its end.
	upgrading        bool
	stopAfterUpgrade string
	errs             []error // of the apps that ended
}

// app is one running app.
type app struct {
	m       *master.Master
	cfg     config.Config
	ready   bool
	cancel  context.CancelFunc
	metrics *metricsEndpoint
	status  string // its STATUS= line when it became ready
	// reloadDuration is fed by the master (Host.ReloadTook).
	reloadDuration reloadDuration
}

// New prepares a process: it becomes a child subreaper and, if it is the
// product of an upgrade, reaches its old self.
func New(opts Options) (*Process, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Process{
		opts:     opts,
		log:      opts.Logger,
		pid:      os.Getpid(),
		notifier: newSupervisorNotifier(opts.Logger),
		events:   make(chan func(), 64),
		done:     make(chan struct{}),
		apps:     map[string]*app{},
		metrics:  map[string]*metricsEndpoint{},
	}
	var err error
	if p.children, err = startChildren(); err != nil {
		return nil, err
	}
	if g := p.children.cgroups; g.base != "" {
		p.log.Debug("each worker runs in a cgroup of its own", "under", g.base)
	} else {
		p.log.Info("no cgroup per worker: what leaves a worker's process group is stopped only with the master", "why", g.why)
	}
	if g := p.children.cgroups; g.staleKilled > 0 {
		p.log.Warn("killed what a master that died had left running", "processes", g.staleKilled)
	}
	return p, nil
}

// Run starts every app and supervises them until all have stopped: by
// SIGTERM or SIGINT (every app), by `clusterd stop` (one app), by ctx, or
// because an upgrade replaced the process. Its error joins the apps' errors;
// a lone app's restart.WorkerExit comes back as it is.
func (p *Process) Run(ctx context.Context) error {
	defer p.children.stop()
	configs, err := p.opts.Apps()
	if err != nil {
		return err
	}
	if len(configs) == 0 {
		return errors.New("no app to run")
	}
	if err := p.checkNames(configs); err != nil {
		return err
	}
	first := configs[0]
	if first.ForkRate <= 0 || first.ForkBurst < 1 {
		return errors.New("fork rate and burst must be positive")
	}
	p.forkLimit = rate.NewLimiter(rate.Limit(first.ForkRate), first.ForkBurst)
	p.upgrader, p.upgradeErr = newUpgrader(first.UpgradeTimeout)
	started := make([]*app, 0, len(configs))
	for _, cfg := range configs {
		a, err := p.newApp(cfg, len(configs) > 1)
		if err != nil {
			for _, a := range started {
				p.closeApp(a)
			}
			return err
		}
		started = append(started, a)
	}
	var group run.Group
	loopCtx, stopLoop := context.WithCancel(ctx)
	group.Add(func() error { return p.loop(loopCtx, started) }, func(error) { stopLoop() })
	signals := newSignalRouter(p)
	group.Add(signals.run, signals.stop)
	trimmer := make(chan struct{})
	group.Add(func() error { trimEvery(trimInterval, trimmer); return nil }, func(error) { close(trimmer) })
	if w := p.newWatchdog(); w != nil {
		group.Add(w.run, w.stop)
	}
	group.Run()
	p.children.killLeftovers()
	if len(p.errs) == 1 && len(configs) == 1 {
		return p.errs[0]
	}
	return errors.Join(p.errs...)
}

// checkNames refuses two apps of one name: each is found by its name.
func (p *Process) checkNames(configs []config.Config) error {
	seen := map[string]bool{}
	for _, cfg := range configs {
		if seen[cfg.Name] {
			return fmt.Errorf("two apps are named %q: give each its own name", cfg.Name)
		}
		seen[cfg.Name] = true
	}
	return nil
}

// loop owns the set of apps until the last one has ended.
func (p *Process) loop(ctx context.Context, started []*app) error {
	defer close(p.done)
	for _, a := range started {
		p.runApp(a)
	}
	ctxDone := ctx.Done()
	for len(p.apps) > 0 {
		select {
		case event := <-p.events:
			event()
		case <-ctxDone:
			ctxDone = nil
			p.stop("asked to stop")
		}
	}
	// Drain what apps posted on their way out.
	for {
		select {
		case event := <-p.events:
			event()
		default:
			return nil
		}
	}
}

// post hands f to the loop; false once the loop has finished.
func (p *Process) post(f func()) bool {
	select {
	case p.events <- f:
		return true
	case <-p.done:
		return false
	}
}

// newApp makes an app's master: with the sockets an old process handed
// over, if this process is its upgrade.
func (p *Process) newApp(cfg config.Config, several bool) (*app, error) {
	handoff, err := p.takeHandoff(cfg.Name)
	if err != nil {
		return nil, err
	}
	reloads := newReloadDuration(cfg.Name)
	m, err := master.New(cfg, appHost{p: p, reloadDuration: reloads}, handoff)
	if err != nil {
		if several {
			err = fmt.Errorf("app %q: %w", cfg.Name, err)
		}
		return nil, err
	}
	a := &app{m: m, cfg: cfg, reloadDuration: reloads}
	if cfg.Metrics != "" {
		if a.metrics, err = p.attachMetrics(cfg.Metrics, a); err != nil {
			m.Close()
			return nil, err
		}
		m.SetMetricsAddress(a.metrics.address())
	}
	return a, nil
}

// closeApp releases an app that will not run.
func (p *Process) closeApp(a *app) {
	p.detachMetrics(a)
	a.m.Close()
}

// runApp starts a's loop; its end comes back to the process's loop.
func (p *Process) runApp(a *app) {
	name := a.m.Name()
	p.apps[name] = a
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() {
		err := a.m.Run(ctx)
		p.post(func() { p.appEnded(name, a, err) })
	}()
}

func (p *Process) appEnded(name string, a *app, err error) {
	a.cancel()
	if p.apps[name] == a {
		delete(p.apps, name)
	}
	p.detachMetrics(a)
	removePidfile(a.cfg.Pidfile, p.pid)
	if err != nil {
		if len(p.apps) > 0 || len(p.errs) > 0 {
			err = fmt.Errorf("app %q: %w", name, err)
		}
		p.errs = append(p.errs, err)
	}
}

// appReady: every slot of the app has had a ready worker. The process is
// ready once every app it started with is: only then does an old process
// retire (tableflip) and systemd hear READY=1.
func (p *Process) appReady(m *master.Master, status string) {
	a := p.apps[m.Name()]
	if a == nil || a.m != m {
		return
	}
	a.ready, a.status = true, status
	if err := writePidfile(a.cfg.Pidfile, p.pid); err != nil {
		p.log.Error("pidfile", "app", m.Name(), "err", err)
	}
	if p.ready {
		return
	}
	for _, other := range p.apps {
		if !other.ready {
			return
		}
	}
	p.ready = true
	if p.upgrader != nil {
		if err := p.upgrader.Ready(); err != nil {
			p.log.Error("telling the old master we are ready", "err", err)
		}
	}
	p.notifier.tell(fmt.Sprintf("READY=1\nMAINPID=%d\n%s", p.pid, p.statusLine()))
	// Started: what start-up made resident goes back (memory.go).
	go trimMemory()
}

// statusLine is a STATUS= line for the whole process: each app's own.
func (p *Process) statusLine() string {
	var parts []string
	for _, name := range p.appNames() {
		parts = append(parts, strings.TrimPrefix(p.apps[name].status, "STATUS="))
	}
	return "STATUS=" + strings.Join(parts, "; ")
}

func (p *Process) appNames() []string {
	names := make([]string, 0, len(p.apps))
	for name := range p.apps {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// onSignal acts on a signal the router handed over.
func (p *Process) onSignal(sig syscall.Signal) {
	switch sig {
	case syscall.SIGHUP:
		p.log.Info("SIGHUP: rolling reload of every app requested")
		p.reloadAll(func(err error) {
			if err != nil {
				p.log.Warn("SIGHUP reload", "err", err)
			}
		})
	case syscall.SIGUSR2: // nginx's and unicorn's: replace the master binary
		p.upgrade(func(err error) {
			if err != nil {
				p.log.Warn("SIGUSR2 upgrade not done", "err", err)
			}
		})
	case syscall.SIGTERM, syscall.SIGINT:
		if p.upgrading {
			p.log.Info(sig.String() + " during an upgrade: stopping once it has finished")
			p.stopAfterUpgrade = sig.String()
			return
		}
		if p.stopping {
			// A second one: the operator does not want to wait.
			for _, a := range p.apps {
				a.m.Signal(sig)
			}
			return
		}
		p.stop(sig.String())
	default: // SIGUSR1, SIGTTIN, SIGTTOU: every app's own business
		for _, a := range p.apps {
			a.m.Signal(sig)
		}
	}
}

// stop stops every app gracefully.
func (p *Process) stop(why string) {
	if p.stopping {
		return
	}
	p.stopping = true
	p.log.Info("stopping every app", "why", why, "apps", len(p.apps))
	for _, a := range p.apps {
		a.cancel()
	}
}

// reloadAll does what SIGHUP does and waits for it: start the apps the
// configuration has gained (or that were stopped by hand), reload every
// app that was running. reply's error names each app whose reload failed.
func (p *Process) reloadAll(reply func(error)) {
	if p.stopping {
		reply(master.ErrStopping)
		return
	}
	names := p.appNames()
	running := make([]*master.Master, len(names))
	for i, name := range names {
		running[i] = p.apps[name].m
	}
	p.startAdded()
	go func() {
		failed := make([]string, len(running))
		done := make(chan struct{}, len(running))
		for i, m := range running {
			go func() {
				defer func() { done <- struct{}{} }()
				// An app that stopped meanwhile has nothing to reload.
				if err := m.Reload(); err != nil && !errors.Is(err, master.ErrStopped) && !errors.Is(err, master.ErrStopping) {
					failed[i] = fmt.Sprintf("app %q: %v", names[i], err)
				}
			}()
		}
		for range running {
			<-done
		}
		failed = slices.DeleteFunc(failed, func(s string) bool { return s == "" })
		if len(failed) > 0 {
			reply(errors.New(strings.Join(failed, "; ")))
			return
		}
		reply(nil)
	}()
}

// startAdded starts the apps of the configuration that do not run. A
// configuration that does not read starts nothing: the apps' own reloads
// report why.
func (p *Process) startAdded() {
	configs, err := p.opts.Apps()
	if err != nil {
		return
	}
	for _, cfg := range configs {
		if p.apps[cfg.Name] != nil {
			continue
		}
		a, err := p.newApp(cfg, true)
		if err != nil {
			p.log.Error("an app that did not run failed to start", "app", cfg.Name, "err", err)
			continue
		}
		p.log.Info("starting an app that did not run", "app", cfg.Name)
		p.runApp(a)
	}
}
