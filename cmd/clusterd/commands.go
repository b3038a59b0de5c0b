package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/demo"
	"github.com/clusterd/clusterd/logcapture"
	"github.com/clusterd/clusterd/master"
)

func newRootCommand() *cobra.Command {
	var flags *masterFlags
	var configFile, profile string
	root := &cobra.Command{
		Use:   "clusterd [flags] [--] COMMAND [ARGS...]",
		Short: "Pre-fork cluster master with zero-downtime rolling reload",
		Long: `clusterd opens the listening sockets itself, starts one worker per CPU and
hands every worker the same sockets as fds 3, 4, ... (systemd's LISTEN_FDS
convention), so a worker in any language serves them and the master is never
in the data path.

Signals: SIGHUP rolling reload, SIGTERM/SIGINT graceful stop (a second one
kills the workers at once).`,
		Example: `  clusterd -i max -l :8080 -- ./server
  clusterd -i 2 --wait-ready -- node server.js
  clusterd -i max -- clusterd demo`,
		Args:          cobra.ArbitraryArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configFile != "" {
				if len(args) > 0 {
					return usageError{fmt.Errorf("give either a command or --config %s, not both", configFile)}
				}
				return runConfigFile(configFile, profile, cmd.Flags())
			}
			if profile != "" {
				return usageError{fmt.Errorf("--env %s chooses a profile of a config file: give one with --config FILE", profile)}
			}
			if len(args) == 0 {
				return usageError{fmt.Errorf("no command given: usage is clusterd [flags] -- COMMAND [ARGS...] (see clusterd --help)")}
			}
			cfg := flags.config()
			cfg.Command = args
			if fi, err := os.Stat(args[0]); err == nil && fi.IsDir() && slices.Contains(cfg.Watch, ".") {
				// pflag took the path after a bare --watch for the command.
				return usageError{fmt.Errorf("--watch %s: give a path to --watch with '=' (--watch=%s); --watch alone watches the working directory, so %s was read as the command", args[0], args[0], args[0])}
			}
			return runApps(func() ([]master.Config, error) { return []master.Config{cfg}, nil }, cfg.LogJSON)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	f := root.Flags()
	// Everything after the command's name belongs to the command.
	f.SetInterspersed(false)
	flags = newMasterFlags(f)
	f.StringVarP(&configFile, "config", "c", "", "run the apps of this YAML or JSON file (PM2's ecosystem fields); the flags given here override the file's for every app")
	f.StringVar(&profile, "env", "", "with --config, merge each app's env_PROFILE over its env (PM2's --env)")

	root.AddCommand(newDemoCommand(), newStatusCommand(), newReloadCommand(), newScaleCommand(), newUpgradeCommand(), newStopCommand(), newStartupCommand(), newMonitCommand())
	root.AddCommand(newLogsCommand(), newReopenLogsCommand(), newStartCommand(), newImportPM2Command())
	return root
}

// masterFlags are the flags that configure a master. The root command and
// start have them, and so does each app of a config file: its fields are
// these flags' names.
type masterFlags struct {
	cfg       master.Config
	instances instancesValue
	debug     bool
}

func newMasterFlags(f *pflag.FlagSet) *masterFlags {
	flags := &masterFlags{cfg: master.Defaults()}
	flags.instances.Set("max")
	cfg, instances, debug := &flags.cfg, &flags.instances, &flags.debug
	f.VarP(instances, "instances", "i", "number of workers: N, max (one per CPU) or -1 (CPUs minus one)")
	f.StringArrayVarP(&cfg.Listen, "listen", "l", nil,
		"address to listen on, repeatable: host:port, :port, [::1]:port, unix:/path, optionally NAME=ADDR for LISTEN_FDNAMES (default "+master.DefaultListen+", or the sockets of socket activation, matched by NAME)")
	f.BoolVar(&cfg.NoListen, "no-listen", false, "the workers serve no socket (queue consumers, schedulers): none is opened and they get LISTEN_FDS=0")
	f.StringVar(&cfg.Dir, "cwd", "", "working directory of the workers (default: the master's)")
	f.Var(durationValue{&cfg.Watchdog}, "watchdog", "each worker gets WATCHDOG_USEC and must send WATCHDOG=1 at least this often once ready; one that misses it is killed (SIGABRT, then SIGKILL) and replaced (default 0: off)")
	f.StringArrayVar(&cfg.Watch, "watch", nil, "reload (rolling, ready-gated) when files under this path change; repeatable; --watch alone watches the working directory")
	f.Lookup("watch").NoOptDefVal = "."
	f.StringArrayVar(&cfg.WatchIgnore, "watch-ignore", nil, "glob of paths that never trigger a reload, repeatable (.git, node_modules, *.log, *.sock, *.pid are always ignored)")
	f.Var(durationValue{&cfg.WatchDelay}, "watch-delay", "debounce: a burst of changes within this delay is one reload")
	f.BoolVar(&cfg.NodeIPC, "node-ipc", false, "give each worker a Node IPC channel (NODE_CHANNEL_FD) as PM2 does, so process.send('ready') marks it ready")
	f.BoolVar(&cfg.NodeCompat, "node-compat", false, "run a Node app written for PM2 unchanged: the Node IPC channel (process.send('ready')), server.listen(PORT) served from clusterd's socket, and an http.Server.close that drains without loss (a preload in NODE_OPTIONS)")
	f.Var(signalValue{&cfg.StopSignal}, "stop-signal", "signal that asks a worker to drain and exit (default SIGTERM; SIGINT with --node-compat, as PM2 sends)")
	f.BoolVar(&cfg.ShutdownWithMessage, "shutdown-with-message", false, "stop workers with the Node IPC message 'shutdown' instead of SIGTERM (PM2's shutdown_with_message); implies --node-ipc")
	f.StringVar(&cfg.HealthCheck, "health-check", "", "HTTP path (e.g. /health) probed on a private unix socket each worker gets as one more fd named \"health\"; a worker failing --health-failures probes in a row is replaced, successor first. Opt-in: a worker must serve that fd")
	f.Var(durationValue{&cfg.HealthInterval}, "health-interval", "time between health probes of a worker")
	f.Var(durationValue{&cfg.HealthTimeout}, "health-timeout", "how long a health probe may take")
	f.IntVar(&cfg.HealthFailures, "health-failures", cfg.HealthFailures, "failed health probes in a row that replace a worker")
	f.BoolVar(&cfg.ReadyOnHealth, "ready-on-health", false, "with --health-check, a worker's first passing probe counts as ready (for programs that cannot send READY=1)")
	f.StringVar(&cfg.Metrics, "metrics", "", "serve Prometheus metrics on this address (/metrics), with /healthz (the master answers) and /readyz (a worker is ready), e.g. 127.0.0.1:9100")
	f.Var(sizeValue{&cfg.MaxMemoryRestart}, "max-memory-restart", "replace a worker whose RSS stays above this size (e.g. 200M, 1G) in 3 samples a second apart, by a rolling restart: its successor is ready first (default 0: off)")
	f.BoolVar(&cfg.NoAutorestart, "no-autorestart", false, "do not replace a worker that exits (PM2's autorestart: false); the master exits with the last worker's exit code when none is left")
	f.IntSliceVar(&cfg.StopExitCodes, "stop-exit-codes", nil, "exit codes that mean a worker stopped on purpose and is not replaced (PM2's stop_exit_codes), e.g. 0 or 0,64")
	f.StringVar(&cfg.User, "user", "", "run every worker as this user (name or uid), with its primary group and no supplementary groups; the master stays root to bind privileged ports")
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
	f.Var(durationValue{&cfg.ReadyGrace}, "ready-grace", "during a reload, how long a new worker must stay up after READY before an old one is retired")
	f.Float64Var(&cfg.ForkRate, "max-fork-rate", cfg.ForkRate, "machine-wide cap on re-forks of crashed workers, per second")
	f.BoolVar(debug, "debug", false, "log every worker start")
	addControlFlags(f, &cfg.Name, &cfg.ControlPath)
	addLogFlags(f, cfg)

	return flags
}

// config is the master's configuration as the flags say.
func (flags *masterFlags) config() master.Config {
	cfg := flags.cfg
	cfg.Instances = flags.instances.n
	level := slog.LevelInfo
	if flags.debug {
		level = slog.LevelDebug
	}
	cfg.Logger = newLogger(level, cfg.LogJSON)
	return cfg
}

// masterStderr is where the master's own lines go: a writer that never
// makes the loops wait, whatever happens to stderr.
var masterStderr = sync.OnceValue(func() io.Writer { return logcapture.NewDetached(os.Stderr, 1<<20) })

// newLogger writes the master's own lines as text, or as JSON with
// --log-json, like the workers' lines.
func newLogger(level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(masterStderr(), opts))
	}
	return slog.New(slog.NewTextHandler(masterStderr(), opts))
}

func addControlFlags(f *pflag.FlagSet, name, control *string) {
	f.StringVar(name, "name", "default", "name of the cluster, used for the default control socket path")
	f.StringVar(control, "control", "", "control socket path (default: $XDG_RUNTIME_DIR/clusterd/NAME.sock, /run/clusterd/NAME.sock as root, else $TMPDIR/clusterd-UID/NAME.sock)")
}

// controlCommand makes c a subcommand that talks to a running master:
// it gets --name and --control, and an optional first argument, the app's
// name (the same as --name), before its own arguments. run gets a client
// for that master.
func controlCommand(c *cobra.Command, run func(cmd *cobra.Command, client *control.Client, args []string) error) *cobra.Command {
	var name, controlPath string
	own := c.Args
	takesApp := func(cmd *cobra.Command, args []string) bool {
		return own(cmd, args) != nil && len(args) > 0 && own(cmd, args[1:]) == nil
	}
	c.Use = strings.Replace(c.Use, " ", " [APP] ", 1)
	if !strings.Contains(c.Use, "[APP]") {
		c.Use += " [APP]"
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if takesApp(cmd, args) {
			return nil
		}
		return own(cmd, args)
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if takesApp(cmd, args) {
			if cmd.Flags().Changed("name") && name != args[0] {
				return usageError{fmt.Errorf("the app is %s or --name %s: say it once", args[0], name)}
			}
			name, args = args[0], args[1:]
		}
		if controlPath == "" {
			path, err := control.DefaultPath(name)
			if err != nil {
				return usageError{err}
			}
			controlPath = path
		}
		err := run(cmd, &control.Client{Path: controlPath}, args)
		if !errors.Is(err, control.ErrNoMaster) {
			return err
		}
		if others := otherMasters(controlPath); len(others) > 0 {
			// No app named, and no master called default: name the ones
			// there are (the apps of a config file).
			names := make([]string, len(others))
			for i, c := range others {
				names[i] = strings.TrimSuffix(filepath.Base(c.Path), ".sock")
			}
			return fmt.Errorf("no master named default runs here; there are: %s (clusterd %s APP)", strings.Join(names, ", "), cmd.Name())
		}
		return err
	}
	addControlFlags(c.Flags(), &name, &controlPath)
	return c
}

func newStatusCommand() *cobra.Command {
	var asJSON, usage bool
	cmd := controlCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the workers of a running master, with CPU and memory",
		Long: `status shows each worker's slot, pid, state, uptime, CPU and memory, restarts
and the last reload. CPU is sampled over a quarter of a second, as top does.
--json answers at once without CPU and memory, for scripts that poll it;
add --usage to have them there too.`,
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, client *control.Client, _ []string) error {
		if !asJSON {
			if others := otherMasters(client.Path); others != nil {
				// No app named and no default one: show every running
				// master, as pm2 ls does (the apps of a config file).
				var failed error
				for i, c := range others {
					if i > 0 {
						fmt.Fprintln(cmd.OutOrStdout())
					}
					st, err := c.StatusWithUsage()
					if err != nil {
						failed = err
						fmt.Fprintln(cmd.OutOrStdout(), err)
						continue
					}
					if err := st.Render(cmd.OutOrStdout()); err != nil {
						return err
					}
				}
				return failed
			}
		}
		get := client.StatusWithUsage
		if asJSON && !usage {
			get = client.Status
		}
		st, err := get()
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		return st.Render(cmd.OutOrStdout())
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as one JSON document (at once, without CPU and memory unless --usage)")
	cmd.Flags().BoolVar(&usage, "usage", false, "with --json, sample each worker's CPU and memory too (takes a quarter of a second)")
	return cmd
}

// allMasters are clients of every control socket in the directory of the
// default one (path), whatever its name.
func allMasters(path string) []*control.Client {
	live, stale := control.Masters(filepath.Dir(path))
	for _, p := range stale {
		fmt.Fprintf(os.Stderr, "clusterd: %s was stale (its master is gone): removed\n", p)
	}
	clients := make([]*control.Client, len(live))
	for i, p := range live {
		clients[i] = &control.Client{Path: p}
	}
	return clients
}

// otherMasters are clients of the masters whose control sockets are in
// the default directory, when path is the default master's and it is not
// there; nil otherwise.
func otherMasters(path string) []*control.Client {
	def, err := control.DefaultPath("default")
	if err != nil || path != def {
		return nil
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if clients := allMasters(def); len(clients) > 0 {
		return clients
	}
	return nil
}

func newReloadCommand() *cobra.Command {
	var all bool
	var pid int
	cmd := controlCommand(&cobra.Command{
		Use:   "reload",
		Short: "Rolling reload: replace every worker, each only after its successor is ready",
		Long: `reload blocks until the rolling reload has finished. It exits 0 when every
worker was replaced, and 1 with the reason when the reload was aborted (a new
worker died or was not ready within --listen-timeout); the old workers then
keep serving. A master started from a config file reads its app from the file
first: a file that does not read aborts the reload, naming the line and the
field, and what only a restart can change is named on stderr.

--all reloads every app of the master process (pm2 reload all), as SIGHUP
does, and starts the apps its config file has gained; without an app named,
every master process found. --pid picks the processes by pid: a systemd unit
runs "clusterd reload --all --pid $MAINPID".`,
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, client *control.Client, _ []string) error {
		start := time.Now()
		if all || pid != 0 {
			return reloadAll(cmd, client, pid, start)
		}
		if err := client.Reload(); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "reload succeeded in %s\n", time.Since(start).Round(time.Millisecond))
		if st, err := client.Status(); err == nil && st.Reload.Last != nil && len(st.Reload.Last.NotApplied) > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "clusterd: not applied until the master restarts: %s\n", strings.Join(st.Reload.Last.NotApplied, ", "))
		}
		return nil
	})
	cmd.Flags().BoolVar(&all, "all", false, "reload every app of the master process (and start the apps its config file has gained)")
	cmd.Flags().IntVar(&pid, "pid", 0, "with --all: only the master process with this pid (systemd: $MAINPID); implies --all")
	return cmd
}

// reloadAll asks one master of each process (every process found, or the
// one with pid) to reload all the apps of its process.
func reloadAll(cmd *cobra.Command, client *control.Client, pid int, start time.Time) error {
	clients := []*control.Client{client}
	named := cmd.Flags().Changed("name") || cmd.Flags().Changed("control") || cmd.Flags().NArg() > 0
	if !named {
		clients = allMasters(client.Path)
	}
	done := map[int]bool{}
	var failed []string
	for _, c := range clients {
		st, err := c.Status()
		if err != nil || done[st.PID] || (pid != 0 && st.PID != pid) {
			continue // a stale socket, or a process already asked
		}
		done[st.PID] = true
		if err := c.ReloadAll(); err != nil {
			failed = append(failed, fmt.Sprintf("master %d: %v", st.PID, err))
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "reload of every app of master %d succeeded in %s\n", st.PID, time.Since(start).Round(time.Millisecond))
	}
	switch {
	case len(failed) > 0:
		return errors.New(strings.Join(failed, "; "))
	case len(done) == 0 && pid != 0:
		return fmt.Errorf("no clusterd master with pid %d answers on the control sockets in %s", pid, filepath.Dir(client.Path))
	case len(done) == 0:
		_, err := client.Status()
		return err
	}
	return nil
}

func newScaleCommand() *cobra.Command {
	return controlCommand(&cobra.Command{
		Use:   "scale N|+K|-K",
		Short: "Set the number of workers: new ones start, surplus ones drain gracefully",
		Long: `scale sets the number of worker slots of a running master. New workers run the
current release; surplus workers (the highest slots) drain as in a stop.
SIGTTIN and SIGTTOU to the master add and remove one. A reload keeps the new
count. Scaling is refused while a reload runs.`,
		Args: cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, client *control.Client, args []string) error {
		st, err := client.Scale(args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "scaled to %d instances\n", st.Instances)
		return nil
	})
}

func newUpgradeCommand() *cobra.Command {
	return controlCommand(&cobra.Command{
		Use:   "upgrade",
		Short: "Replace the master with the clusterd binary on disk, without closing a socket",
		Long: `upgrade (or SIGUSR2 to the master) starts the clusterd binary as it is on disk
now and hands it the listening sockets and the control socket. The new master
starts its own workers; once they are all ready the old master drains its
workers and exits. If the new master fails or is not ready within
--upgrade-timeout, it is killed, the old master keeps serving, and upgrade
exits 1 with the reason. A second upgrade while one is in flight is refused.`,
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, client *control.Client, _ []string) error {
		start := time.Now()
		if err := client.Upgrade(); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "upgraded in %s: the new master serves, the old one is draining its workers\n", time.Since(start).Round(time.Millisecond))
		return nil
	})
}

func newStopCommand() *cobra.Command {
	return controlCommand(&cobra.Command{
		Use:   "stop",
		Short: "Stop the master and drain all workers gracefully",
		Args:  cobra.NoArgs,
	}, func(_ *cobra.Command, client *control.Client, _ []string) error {
		return client.Stop()
	})
}

func newDemoCommand() *cobra.Command {
	opts := demo.Options{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the built-in crash-prone demo worker (fasthttp)",
		Long: `demo serves the sockets it inherits from clusterd (or --listen when run alone),
sends READY=1, and drains with zero failed requests on SIGTERM.

Endpoints: / (names the worker pid), /sleep?ms=N, /crash, /alloc?mb=N, /hang,
/sick and /health, /env?name=X.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.CrashRate < 0 || opts.CrashRate > 1 {
				return usageError{fmt.Errorf("--crash-rate must be between 0 and 1, got %g", opts.CrashRate)}
			}
			return demo.Run(opts)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&opts.CrashRate, "crash-rate", 0, "probability that a request kills the worker (the crash-prone server of the bench)")
	f.StringVar(&opts.Listen, "listen", "127.0.0.1:3000", "address to listen on when not started by clusterd")
	f.DurationVar(&opts.DrainTimeout, "drain-timeout", 5*time.Second, "on SIGTERM, how long to wait for open connections to finish")
	return cmd
}
