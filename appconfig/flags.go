package appconfig

import (
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/clusterd/clusterd/config"
	"github.com/spf13/pflag"
)

// Flags are the flags that configure a master. The root command and start
// have them, and so does each app of a config file: its fields are these
// flags' names.
type Flags struct {
	cfg          config.Config
	instances    instancesValue
	debug        bool
	noNodeCompat bool
	set          *pflag.FlagSet
}

// NewFlags defines the master's flags on f.
func NewFlags(f *pflag.FlagSet) *Flags {
	flags := &Flags{cfg: config.Defaults(), set: f}
	flags.instances.Set("max")
	cfg, instances, debug := &flags.cfg, &flags.instances, &flags.debug
	f.VarP(instances, "instances", "i", "number of workers: N, max (one per CPU) or -1 (CPUs minus one)")
	f.StringArrayVarP(&cfg.Listen, "listen", "l", nil,
		"address to listen on, repeatable: host:port, :port, [::1]:port, unix:/path, optionally NAME=ADDR for LISTEN_FDNAMES (default "+config.DefaultListen+", or the sockets of socket activation, matched by NAME)")
	f.BoolVar(&cfg.NoListen, "no-listen", false, "the workers serve no socket (queue consumers, schedulers): none is opened and they get LISTEN_FDS=0")
	f.StringVar(&cfg.Dir, "cwd", "", "working directory of the workers (default: the master's)")
	f.Var(durationValue{&cfg.Watchdog}, "watchdog", "each worker gets WATCHDOG_USEC and must send WATCHDOG=1 at least this often once ready; one that misses it is killed (SIGABRT, then SIGKILL) and replaced (0: off)")
	f.StringArrayVar(&cfg.Watch, "watch", nil, "reload (rolling, ready-gated) when files under this path change; repeatable; --watch alone watches the working directory")
	f.Lookup("watch").NoOptDefVal = "."
	f.StringArrayVar(&cfg.WatchIgnore, "watch-ignore", nil, "glob of paths that never trigger a reload, repeatable (.git, node_modules, *.log, *.sock, *.pid are always ignored)")
	f.Var(durationValue{&cfg.WatchDelay}, "watch-delay", "debounce: a burst of changes within this delay is one reload")
	f.BoolVar(&cfg.WatchPoll, "watch-poll", false, "watch by looking at every file of the watched trees each --watch-poll-interval instead of with inotify, for file systems where inotify sees nothing (NFS, CIFS, some container and VM mounts; PM2's watch_options.usePolling)")
	f.Var(durationValue{&cfg.WatchPollInterval}, "watch-poll-interval", "with --watch-poll, how often the watched trees are looked at (0: 100ms, as chokidar)")
	f.BoolVar(&cfg.WatchNoFollowSymlinks, "watch-no-follow-symlinks", false, "do not enter symlinked directories under a watched path (PM2's watch_options.followSymlinks: false)")
	f.Var(depthValue{&cfg.WatchDepth}, "watch-depth", "watch at most this many directory levels below a watched path; 0 watches its own entries only (default: all; PM2's watch_options.depth)")
	f.Var(durationValue{&cfg.WatchAwaitWrite}, "watch-await-write", "count a written file only once it has stayed unwritten and the same size this long, so a long copy is one change, seen complete (0: off; PM2's watch_options.awaitWriteFinish)")
	f.BoolVar(&cfg.NodeIPC, "node-ipc", false, "give each worker a Node IPC channel (NODE_CHANNEL_FD) as PM2 does, so process.send('ready') marks it ready")
	f.BoolVar(&cfg.NodeCompat, "node-compat", false, "run a Node app written for PM2 unchanged: the Node IPC channel (process.send('ready')), server.listen(PORT) served from clusterd's socket, and an http.Server.close that drains without loss (a preload in NODE_OPTIONS); on by itself for node, npm, npx, ts-node and .js/.mjs/.cjs/.ts scripts")
	f.BoolVar(&flags.noNodeCompat, "no-node-compat", false, "run a Node command without --node-compat's preload and IPC channel")
	f.Var(signalValue{&cfg.StopSignal}, "stop-signal", "signal that asks a worker to drain and exit (default SIGTERM; SIGINT with --node-compat, as PM2 sends)")
	f.BoolVar(&cfg.ShutdownWithMessage, "shutdown-with-message", false, "stop workers with the Node IPC message 'shutdown' instead of SIGTERM (PM2's shutdown_with_message); implies --node-ipc")
	f.StringVar(&cfg.HealthCheck, "health-check", "", "HTTP path (e.g. /health) probed on a private unix socket each worker gets as one more fd named \"health\"; a worker failing --health-failures probes in a row is replaced, successor first. Opt-in: a worker must serve that fd")
	f.Var(durationValue{&cfg.HealthInterval}, "health-interval", "time between health probes of a worker")
	f.Var(durationValue{&cfg.HealthTimeout}, "health-timeout", "how long a health probe may take")
	f.IntVar(&cfg.HealthFailures, "health-failures", cfg.HealthFailures, "failed health probes in a row that replace a worker")
	f.BoolVar(&cfg.ReadyOnHealth, "ready-on-health", false, "with --health-check, a worker's first passing probe counts as ready (for programs that cannot send READY=1)")
	f.StringVar(&cfg.Metrics, "metrics", "", "serve Prometheus metrics on this address (/metrics), with /healthz (the master answers) and /readyz (a worker is ready), e.g. 127.0.0.1:9100")
	f.Var(sizeValue{&cfg.MaxMemoryRestart}, "max-memory-restart", "replace a worker whose RSS stays above this size (e.g. 200M, 1G) in 3 samples a second apart, by a rolling restart: its successor is ready first (0: off)")
	f.BoolVar(&cfg.NoAutorestart, "no-autorestart", false, "do not replace a worker that exits (PM2's autorestart: false); the master exits with the last worker's exit code when none is left")
	f.IntSliceVar(&cfg.StopExitCodes, "stop-exit-codes", nil, "exit codes that mean a worker stopped on purpose and is not replaced (PM2's stop_exit_codes), e.g. 0 or 0,64")
	f.StringVar(&cfg.User, "user", "", "run every worker as this user (name or uid), with its primary group and no supplementary groups; a uid that no passwd entry names runs with the gid of the same number unless --group says otherwise; the master stays root to bind privileged ports")
	f.StringVar(&cfg.Group, "group", "", "run every worker with this group (name or gid) instead of the user's primary group")
	f.Var(durationValue{&cfg.UpgradeTimeout}, "upgrade-timeout", "on SIGUSR2 or clusterd upgrade, how long the new master may take until all its workers are ready; then it is killed and this master keeps serving")
	f.StringVar(&cfg.Pidfile, "pidfile", "", "write the master's pid here (atomically) once all workers are ready; for systemd PIDFile= and scripts")
	f.BoolVar(&cfg.ReusePort, "reuseport", false, "keep one SO_REUSEPORT socket per worker slot (TCP) even where the kernel refuses steering them (the default steers them, or shares one socket where it cannot)")
	f.BoolVar(&cfg.SharedSocket, "shared-socket", false, "one socket per address shared by every worker, instead of a steered SO_REUSEPORT socket per worker slot (the default for TCP)")
	f.BoolVar(&cfg.WaitReady, "wait-ready", false, "a worker is ready only once it sends READY=1 (sd_notify or NOTIFY_FD)")
	f.Var(durationValue{&cfg.ListenTimeout}, "listen-timeout", "how long a new worker may take to become ready before it counts as failed and a reload aborts")
	f.Var(durationValue{&cfg.KillTimeout}, "kill-timeout", "how long a worker may drain after SIGTERM before SIGKILL; keep it above your worker's drain time")
	f.Var(durationValue{&cfg.MinUptime}, "min-uptime", "without --wait-ready, a worker alive this long counts as ready; dying sooner is a failed start")
	f.IntVar(&cfg.MaxRestarts, "max-restarts", cfg.MaxRestarts, "consecutive failed starts after which a slot is marked errored until the next reload")
	f.Var(durationValue{&cfg.RestartDelay}, "restart-delay", "delay before restarting after a failed start; doubles with each consecutive failure (up to 15s)")
	f.Var(durationValue{&cfg.ExpBackoff}, "exp-backoff-restart-delay", "PM2's: wait this long before every restart, after a crash too, 1.5 times longer per restart in a row (up to 15s), from the start again once a worker ran 30s")
	f.Var(durationValue{&cfg.ReadyGrace}, "ready-grace", "during a reload, how long a new worker must stay up after READY before an old one is retired")
	f.Float64Var(&cfg.ForkRate, "max-fork-rate", cfg.ForkRate, "cap on re-forks of crashed workers, per second, over every app of the master process (burst 20)")
	f.BoolVar(debug, "debug", false, "log every worker start")
	AddControlFlags(f, &cfg.Name, &cfg.ControlPath)
	addLogFlags(f, cfg)

	return flags
}

// Config is the master's configuration as the flags say, its lines going
// to a logger that newLogger makes for the level and --log-json.
func (flags *Flags) Config(newLogger NewLogger) config.Config {
	cfg := flags.cfg
	cfg.Instances, cfg.InstancesFrom = flags.instances.n, flags.instances.from
	level := slog.LevelInfo
	if flags.debug {
		level = slog.LevelDebug
	}
	cfg.Logger = newLogger(level, cfg.LogJSON)
	return cfg
}

// NewLogger makes the logger of a master's own lines.
type NewLogger func(level slog.Level, json bool) *slog.Logger

// AddControlFlags adds --name and --control.
func AddControlFlags(f *pflag.FlagSet, name, control *string) {
	f.StringVar(name, "name", "default", "name of the cluster, used for the default control socket path")
	f.StringVar(control, "control", "", "control socket path (default: $XDG_RUNTIME_DIR/clusterd/NAME.sock, /run/clusterd/NAME.sock as root, else $TMPDIR/clusterd-UID/NAME.sock)")
}

// addLogFlags adds the master's flags for its workers' output. The names are
// PM2's where it has one (--log, --out-file, --error-file).
func addLogFlags(f *pflag.FlagSet, cfg *config.Config) {
	f.StringVar(&cfg.LogFile, "log", "", "write the workers' stdout and stderr lines to FILE (SIGUSR1 or clusterd reopen-logs reopens it)")
	f.StringVar(&cfg.OutFile, "out-file", "", "write the workers' stdout lines to FILE")
	f.StringVar(&cfg.ErrorFile, "error-file", "", "write the workers' stderr lines to FILE")
	f.StringVar(&cfg.LogTimeFormat, "log-time-format", cfg.LogTimeFormat, "Go time layout of each line's timestamp")
	f.BoolVar(&cfg.NoLogTime, "no-log-time", false, "leave the timestamp out of the workers' lines")
	f.BoolVar(&cfg.LogJSON, "log-json", false, "write each line as a JSON object: time, app, slot, pid, stream, line")
	f.Var(sizeValue{&cfg.LogMaxSize}, "log-max-size", "rotate each log file when it would grow beyond SIZE (10M, 1G); without it, leave rotation to logrotate")
	f.IntVar(&cfg.LogMaxFiles, "log-max-files", cfg.LogMaxFiles, "with --log-max-size, how many rotated files to keep (0: all)")
}

// ForCommand completes the configuration once its command is known: a Node
// program gets --node-compat unless the flags (or the file) said otherwise,
// so a PM2 app runs unchanged without a flag its users have no reason to
// know.
func (flags *Flags) ForCommand(cfg *config.Config) {
	if flags.noNodeCompat {
		cfg.NodeCompat = false
		return
	}
	if !flags.set.Changed("node-compat") && IsNodeCommand(cfg.Command) {
		cfg.NodeCompat = true
	}
}

// nodePrograms run a Node program (a package manager runs one via a script).
var nodePrograms = []string{"node", "nodejs", "npm", "npx", "ts-node", "tsx", "yarn", "pnpm"}

// IsNodeCommand: argv runs Node: one of nodePrograms, or a script of
// Node's extensions (started through its shebang).
func IsNodeCommand(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	if slices.Contains(nodePrograms, filepath.Base(argv[0])) {
		return true
	}
	switch strings.ToLower(filepath.Ext(argv[0])) {
	case ".js", ".mjs", ".cjs", ".ts":
		return true
	}
	return false
}
