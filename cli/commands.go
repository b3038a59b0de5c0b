package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/demo"
	"github.com/clusterd/clusterd/internal/version"
	"github.com/clusterd/clusterd/logcapture"
)

// NewRootCommand is the whole command tree: the root command starts a
// master, its subcommands are the verbs.
func NewRootCommand() *cobra.Command {
	var flags *appconfig.Flags
	var configFile, profile string
	root := &cobra.Command{
		Use:   "clusterd [flags] [--] COMMAND [ARGS...]",
		Short: "Pre-fork cluster master with zero-downtime rolling reload",
		Long: `clusterd opens the listening sockets itself, starts one worker per CPU and
hands every worker the same sockets as fds 3, 4, ... (systemd's LISTEN_FDS
convention), so a worker in any language serves them and the master is never
in the data path.

Signals: SIGHUP rolling reload (of every app), SIGTERM/SIGINT graceful stop
(a second one kills the workers at once), SIGUSR2 upgrade of the master's
binary, SIGUSR1 reopen the log files, SIGTTIN/SIGTTOU one worker more/fewer.`,
		Example: `  clusterd -i max -l :8080 -- ./server
  clusterd -i 2 --wait-ready -- node server.js
  clusterd -i max -- clusterd demo`,
		Version:       version.Get().String(),
		Args:          cobra.ArbitraryArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configFile != "" {
				if len(args) > 0 {
					return usageError{Err: fmt.Errorf("give either a command or --config %s, not both", configFile)}
				}
				return runConfigFile(configFile, profile, cmd.Flags())
			}
			if profile != "" {
				return usageError{Err: fmt.Errorf("--env %s chooses a profile of a config file: give one with --config FILE", profile)}
			}
			if len(args) == 0 {
				return usageError{Err: fmt.Errorf("no command given: usage is clusterd [flags] -- COMMAND [ARGS...] (see clusterd --help)")}
			}
			cfg := flags.Config(newLogger)
			cfg.Command = args
			flags.ForCommand(&cfg)
			if fi, err := os.Stat(args[0]); err == nil && fi.IsDir() && slices.Contains(cfg.Watch, ".") {
				// pflag took the path after a bare --watch for the command.
				return usageError{Err: fmt.Errorf("--watch %s: give a path to --watch with '=' (--watch=%s); --watch alone watches the working directory, so %s was read as the command", args[0], args[0], args[0])}
			}
			return runApps(func() ([]config.Config, error) { return []config.Config{cfg}, nil }, cfg.LogJSON)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{Err: err} })

	f := root.Flags()
	// Everything after the command's name belongs to the command.
	f.SetInterspersed(false)
	flags = appconfig.NewFlags(f)
	f.StringVarP(&configFile, "config", "c", "", "run the apps of this YAML or JSON file (PM2's ecosystem fields); the flags given here override the file's for every app")
	f.StringVar(&profile, "env", "", "with --config, merge each app's env_PROFILE over its env (PM2's --env)")

	root.AddCommand(newDemoCommand(), newStatusCommand(), newReloadCommand(), newScaleCommand(), newUpgradeCommand(), newStopCommand(), newStartupCommand(), newMonitCommand())
	root.AddCommand(newLogsCommand(), newReopenLogsCommand(), newStartCommand(), newImportPM2Command())
	root.AddCommand(newListCommand(), newRestartCommand(), newDeleteCommand(), newKillCommand(), newDescribeCommand(),
		newEnvCommand(), newSignalCommand(), newFlushCommand(), newSaveCommand(), newResurrectCommand(), newUnstartupCommand())
	return root
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
				return usageError{Err: fmt.Errorf("the app is %s or --name %s: say it once", args[0], name)}
			}
			name, args = args[0], args[1:]
		}
		if controlPath == "" {
			path, err := control.DefaultPath(name)
			if err != nil {
				return usageError{Err: err}
			}
			controlPath = path
		}
		err := run(cmd, &control.Client{Path: controlPath}, args)
		if !errors.Is(err, control.ErrNoMaster) {
			return err
		}
		if others := control.OtherMasters(controlPath); len(others) > 0 {
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
	appconfig.AddControlFlags(c.Flags(), &name, &controlPath)
	return c
}

func newStatusCommand() *cobra.Command {
	var asJSON, usage bool
	cmd := controlCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the workers of a running master, with CPU and memory",
		Long: `status shows each worker's slot, pid, state, uptime, CPU and memory, restarts
and the last reload. CPU is sampled over a quarter of a second, as top does.
--json answers at once without CPU and memory (absent, never a false 0), for
scripts that poll it; add --usage to have them there too. With no app named
and no app called default, every running app is shown (--json: a list).`,
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, client *control.Client, _ []string) error {
		get := (*control.Client).StatusWithUsage
		if asJSON && !usage {
			get = (*control.Client).Status
		}
		clients := []*control.Client{client}
		others := control.OtherMasters(client.Path)
		if others != nil {
			// No app named and no default one: every running master, as
			// pm2 ls does (the apps of a config file); --json gives a list.
			clients = others
		}
		var statuses []*control.Status
		var failed error
		for _, c := range clients {
			st, err := get(c)
			if err != nil {
				if others == nil {
					return err
				}
				failed = err
				fmt.Fprintln(cmd.ErrOrStderr(), "clusterd: "+err.Error())
				continue
			}
			statuses = append(statuses, st)
		}
		if asJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if others == nil {
				return enc.Encode(statuses[0])
			}
			if err := enc.Encode(statuses); err != nil {
				return err
			}
			return failed
		}
		for i, st := range statuses {
			if i > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			if err := st.Render(cmd.OutOrStdout()); err != nil {
				return err
			}
		}
		return failed
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as one JSON document (at once, without CPU and memory unless --usage)")
	cmd.Flags().BoolVar(&usage, "usage", false, "with --json, sample each worker's CPU and memory too (takes a quarter of a second)")
	return cmd
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
	reloadOne := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 1 && args[0] == "all" { // pm2 reload all
			all, args = true, nil
		}
		if len(args) == 1 {
			if names := namespaceApps(args[0]); names != nil { // pm2 reload NAMESPACE
				return eachApp(args[0], func(name string) error {
					client, err := clientOf(name)
					if err == nil {
						err = client.Reload()
					}
					if err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "reloaded %s\n", name)
					return nil
				})
			}
		}
		return reloadOne(cmd, args)
	}
	cmd.Use = "reload [APP|all]"
	cmd.Flags().BoolVar(&all, "all", false, "reload every app of the master process (and start the apps its config file has gained); \"reload all\" is the same")
	cmd.Flags().IntVar(&pid, "pid", 0, "with --all: only the master process with this pid (systemd: $MAINPID); implies --all")
	return cmd
}

// reloadAll asks one master of each process (every process found, or the
// one with pid) to reload all the apps of its process.
func reloadAll(cmd *cobra.Command, client *control.Client, pid int, start time.Time) error {
	clients := []*control.Client{client}
	named := cmd.Flags().Changed("name") || cmd.Flags().Changed("control") || (cmd.Flags().NArg() > 0 && cmd.Flags().Arg(0) != "all")
	if !named {
		clients = control.AllMasters(client.Path)
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
		if _, err := strconv.Atoi(args[0]); err != nil {
			if path, perr := control.DefaultPath(args[0]); perr == nil && control.Live(path) {
				// "scale web": the app was taken for the count.
				return usageError{Err: fmt.Errorf("scale %s: the count is missing: clusterd scale [APP] N|+K|-K", args[0])}
			}
		}
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
	cmd := controlCommand(&cobra.Command{
		Use:   "stop",
		Short: "Stop an app's master, draining its workers gracefully; stop all stops every app",
		Long: `stop drains the app's workers (the stop signal, then SIGKILL after
--kill-timeout) and ends its master; the other apps of its process keep
running. An app started in the background stays listed by ls as stopped,
and clusterd start APP brings it back. "stop all" stops every app ls lists.`,
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, client *control.Client, _ []string) error {
		if err := client.Stop(); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "stopped %s\n", strings.TrimSuffix(filepath.Base(client.Path), ".sock"))
		return nil
	})
	stopOne := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 1 && args[0] == "all" {
			names, _ := appOrAll("all")
			return stopApps(cmd.OutOrStdout(), names)
		}
		if len(args) == 1 {
			if names := namespaceApps(args[0]); names != nil { // pm2 stop NAMESPACE
				return stopApps(cmd.OutOrStdout(), names)
			}
		}
		return stopOne(cmd, args)
	}
	return cmd
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
				return usageError{Err: fmt.Errorf("--crash-rate must be between 0 and 1, got %g", opts.CrashRate)}
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
