package config

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/launch"
	"github.com/clusterd/clusterd/logcapture"
)

// Config is everything a master needs. The CLI's flags, the app file loader
// and a reload's re-read all produce one, so it lives apart from the master
// that consumes it.
type Config struct {
	// Name identifies the cluster in logs, status and the default control
	// socket path.
	Name string
	// Command is the worker program and its arguments.
	Command []string
	// Dir is the workers' working directory; empty means the master's.
	Dir string
	// Env are KEY=VALUE variables the workers get over the master's own
	// environment (a config file's env, with env_<profile> merged in).
	Env []string
	// WorkerEnv, if set, gives the variables that differ from worker to
	// worker (PM2's NODE_APP_INSTANCE or instance_var, pm_id, name,
	// increment_var) for slot of instances; without it a worker gets
	// NODE_APP_INSTANCE=slot, as PM2 gives every app.
	WorkerEnv func(slot, instances int) []string
	// Namespace is PM2's: a group of apps that the verbs (stop, reload, ...)
	// take by its name as they take an app's.
	Namespace string
	// CronRestart, if set, says when the next scheduled rolling reload is
	// due after a time (PM2's cron_restart, ready-gated here).
	CronRestart interface{ Next(time.Time) time.Time }
	// Reconfigure, if set, gives the configuration each reload installs
	// (cmd/clusterd re-reads the config file). It runs off the event loop
	// at the start of every reload; an error aborts the reload and every
	// worker keeps running. What only a new master can change (sockets,
	// logs, metrics, user, watch) keeps its running value, with a warning.
	Reconfigure func() (Config, error)
	// Instances is the number of worker slots; InstancesFrom says where a
	// count of CPUs came from (-i max: the machine's, or a cgroup's quota),
	// for status.
	Instances     int
	InstancesFrom string
	// Listen are the --listen values, parsed by the listener package.
	// Empty means the sockets of socket activation, or DefaultListen.
	Listen []string
	// NoListen: the workers serve no socket (queue consumers, schedulers);
	// Listen must then be empty.
	NoListen bool
	// ControlPath is the control socket; empty means DefaultControlPath(Name).
	ControlPath string
	// Watchdog, if positive, is how often each worker must send WATCHDOG=1
	// once ready (it gets WATCHDOG_USEC); one that misses it is killed
	// (SIGABRT, then SIGKILL) and replaced.
	Watchdog time.Duration
	// Watch lists paths whose changes trigger a rolling reload;
	// WatchIgnore adds globs to the defaults; WatchDelay is the debounce.
	Watch       []string
	WatchIgnore []string
	WatchDelay  time.Duration
	// PM2's watch_options: WatchPoll stats the watched trees every
	// WatchPollInterval (0: 100ms) instead of using inotify;
	// WatchNoFollowSymlinks does not enter symlinked directories;
	// WatchDepth, if set, is how many directory levels below a watched
	// path are watched (0: its own entries only); WatchAwaitWrite, if
	// positive, counts a written file once it has stayed unwritten and
	// the same size that long.
	WatchPoll             bool
	WatchPollInterval     time.Duration
	WatchNoFollowSymlinks bool
	WatchDepth            *int
	WatchAwaitWrite       time.Duration
	// NodeIPC gives each worker a Node IPC channel (NODE_CHANNEL_FD), as
	// PM2 does: process.send('ready') then marks it ready.
	// ShutdownWithMessage stops workers with the message 'shutdown' on it
	// instead of SIGTERM (PM2's shutdown_with_message); it implies NodeIPC.
	NodeIPC             bool
	ShutdownWithMessage bool
	// NodeCompat runs Node apps written for PM2 unchanged: the Node IPC
	// channel plus a preload that serves server.listen(PORT) from the
	// inherited socket and drains http.Server.close without loss.
	NodeCompat bool
	// StopSignal asks a worker to drain: SIGTERM by default, SIGINT with
	// NodeCompat (PM2's signal, the one PM2 apps handle).
	StopSignal syscall.Signal
	// HealthCheck, if set, is the HTTP path probed on each worker's
	// private health socket every HealthInterval; HealthFailures failures
	// in a row replace it. ReadyOnHealth: a passing probe means ready.
	HealthCheck    string
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthFailures int
	ReadyOnHealth  bool
	// Metrics, if set, is the address of the Prometheus endpoint
	// (/metrics, /healthz, /readyz).
	Metrics string
	// MaxMemoryRestart, if positive, is the RSS in bytes above which a
	// worker is replaced by a rolling restart (PM2's max_memory_restart).
	MaxMemoryRestart int64
	// NoAutorestart: a worker that exits is not replaced (PM2's
	// autorestart: false); the master exits when none is left.
	NoAutorestart bool
	// StopExitCodes are exit codes that mean "stopped on purpose" (PM2's
	// stop_exit_codes): such a worker is not replaced.
	StopExitCodes []int
	// User and Group, if set, are who every worker runs as (the master
	// stays root to bind privileged ports); supplementary groups are
	// dropped.
	User, Group string
	// UpgradeTimeout bounds an upgrade of the master: the new master must
	// have all its workers ready by then, or it is killed and this one
	// keeps serving.
	UpgradeTimeout time.Duration
	// Pidfile, if set, is written atomically with the master's pid once
	// every worker is ready, and removed when the master exits.
	Pidfile string
	// ReusePort keeps one SO_REUSEPORT socket per slot even where the
	// kernel refuses steering (the kernel's hash alone spreads
	// connections). By default each slot gets a steered socket, or all
	// share one where steering is refused (see listener.Groups).
	ReusePort bool
	// SharedSocket serves each address with one socket that every slot
	// shares (docs/design.md §1), instead of a steered socket per slot.
	SharedSocket bool

	// WaitReady requires READY=1; otherwise a worker that stays up for
	// MinUptime counts as ready.
	WaitReady bool
	// ListenTimeout bounds how long a new worker may take to become ready.
	ListenTimeout time.Duration
	// KillTimeout is how long a worker may drain after SIGTERM before
	// its process group gets SIGKILL.
	KillTimeout time.Duration
	// MinUptime: a worker that dies before it was ready failed to start.
	MinUptime time.Duration
	// MaxRestarts is the number of consecutive failed starts after which a
	// slot is marked errored and left alone until the next reload.
	MaxRestarts int
	// RestartDelay is the first back-off after a failed start; it doubles
	// with each consecutive failure up to MaxRestartDelay.
	RestartDelay    time.Duration
	MaxRestartDelay time.Duration
	// ExpBackoff is PM2's exp_backoff_restart_delay: every restart of a
	// slot, after a crash as after a failed start, waits; the wait grows
	// 1.5 times per restart in a row up to 15 s, and starts again from
	// ExpBackoff once a worker has run 30 s. Zero: crashes are replaced at
	// once and failed starts back off by RestartDelay.
	ExpBackoff time.Duration
	// ReadyGrace is how long a reload's new worker must survive after
	// READY before an old worker is retired on its word.
	ReadyGrace time.Duration
	// ForkRate caps re-forks of crashed workers, over every app of the process, per second;
	// ForkBurst is how many may happen at once.
	ForkRate  float64
	ForkBurst int

	// Logs.
	// The workers' stdout and stderr lines go to LogFile (both streams,
	// --log), OutFile and ErrorFile (one stream each, PM2's out_file and
	// error_file); a stream with no file goes to the master's own stdout or
	// stderr. SIGUSR1 reopens the files.
	LogFile   string
	OutFile   string
	ErrorFile string
	// LogTimeFormat is the Go time layout of each line's timestamp (empty:
	// logcapture.DefaultTimeFormat); NoLogTime leaves the timestamp out.
	LogTimeFormat string
	NoLogTime     bool
	// LogJSON writes one JSON object per line instead of a prefixed line.
	LogJSON bool
	// LogMaxSize, in bytes (a whole number of MiB, at least 2 MiB), makes
	// the master rotate each log file itself, keeping LogMaxFiles old ones
	// (0: all). Zero leaves rotation to logrotate.
	LogMaxSize  int64
	LogMaxFiles int

	// Logger receives the master's own log lines.
	Logger *slog.Logger
}

// DefaultListen is where a master listens when told nothing else.
const DefaultListen = ":3000"

// MaxInstances bounds the number of slots: far above any sane cluster, well
// below what would exhaust the machine's pids and descriptors by a typo.
// A scale request is held to it as a config file is.
const MaxInstances = 4096

// Defaults are the values a production user gets without flags.
func Defaults() Config {
	return Config{
		Name:            "default",
		Instances:       1,
		ListenTimeout:   30 * time.Second,
		KillTimeout:     10 * time.Second,
		MinUptime:       time.Second,
		MaxRestarts:     16,
		RestartDelay:    100 * time.Millisecond,
		MaxRestartDelay: 15 * time.Second,
		ReadyGrace:      250 * time.Millisecond,
		UpgradeTimeout:  time.Minute,
		WatchDelay:      500 * time.Millisecond,
		HealthInterval:  5 * time.Second,
		HealthTimeout:   2 * time.Second,
		HealthFailures:  3,
		ForkRate:        100,
		ForkBurst:       20,
		// Logs.
		LogTimeFormat: logcapture.DefaultTimeFormat,
		LogMaxFiles:   10,
	}
}

// Validate reports every error of c at once, so that a config file is fixed
// in one pass, and fills in what follows from other fields (NodeIPC,
// StopSignal, Logger, MaxRestartDelay): a master and a reload's re-read
// then see the same values.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Command) == 0 {
		errs = append(errs, errors.New("no command given: usage is clusterd [flags] -- COMMAND [ARGS...]"))
	}
	if c.Instances < 1 || c.Instances > MaxInstances {
		errs = append(errs, fmt.Errorf("instances must be 1 to %d, got %d", MaxInstances, c.Instances))
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"listen-timeout", c.ListenTimeout}, {"kill-timeout", c.KillTimeout},
		{"min-uptime", c.MinUptime}, {"upgrade-timeout", c.UpgradeTimeout},
	} {
		if d.value <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive, got %s", d.name, d.value))
		}
	}
	if c.RestartDelay < 0 || c.ReadyGrace < 0 || c.ExpBackoff < 0 {
		errs = append(errs, errors.New("--restart-delay, --exp-backoff-restart-delay and --ready-grace may not be negative"))
	}
	if c.MaxRestarts < 0 {
		errs = append(errs, fmt.Errorf("--max-restarts may not be negative, got %d", c.MaxRestarts))
	}
	if c.HealthCheck != "" && (!strings.HasPrefix(c.HealthCheck, "/") || c.HealthInterval <= 0 || c.HealthTimeout <= 0 || c.HealthFailures < 1) {
		errs = append(errs, fmt.Errorf("--health-check %q: want a path starting with /, positive --health-interval and --health-timeout, --health-failures of at least 1", c.HealthCheck))
	}
	if c.ShutdownWithMessage || c.NodeCompat {
		c.NodeIPC = true
	}
	if c.StopSignal == 0 {
		c.StopSignal = syscall.SIGTERM
		if c.NodeCompat {
			c.StopSignal = syscall.SIGINT
		}
	}
	for _, kv := range c.Env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			errs = append(errs, fmt.Errorf("env: %q is not NAME=VALUE", kv))
		} else if slices.Contains(launch.MasterOnlyVars, name) {
			errs = append(errs, fmt.Errorf("env: %s is clusterd's to set for each worker, not the config's", name))
		}
	}
	if c.NoListen && (len(c.Listen) > 0 || c.ReusePort) {
		errs = append(errs, errors.New("--no-listen: the workers serve no socket, so --listen and --reuseport make no sense with it"))
	}
	if c.ReusePort && c.SharedSocket {
		errs = append(errs, errors.New("--reuseport and --shared-socket: choose one"))
	}
	if c.ReadyOnHealth && c.HealthCheck == "" {
		errs = append(errs, errors.New("--ready-on-health needs --health-check"))
	}
	if c.ForkRate <= 0 || c.ForkBurst < 1 {
		errs = append(errs, errors.New("fork rate and burst must be positive"))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxRestartDelay < c.RestartDelay {
		c.MaxRestartDelay = c.RestartDelay
	}
	return errors.Join(errs...)
}
