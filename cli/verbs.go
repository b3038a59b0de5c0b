package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/daemon"
)

// PM2's verbs. They find the apps of this user through the control sockets
// in the per-user control directory (control.DefaultPath) and the app
// records of the state directory (see daemon.StateDir); each exits 0, or 1 with
// one line.

// listEntry is one app for ls: running (st set) or stopped (a record and
// no master answering).
type listEntry struct {
	name string
	st   *control.Status
	err  error
}

// listApps are the apps of this user, by name: every master answering in
// the control directory, with CPU and memory sampled, and every recorded
// app that none answers for, as stopped. names, if given, picks some.
func listApps(names []string) []listEntry {
	def, err := control.DefaultPath("default")
	if err != nil {
		return nil
	}
	clients := control.AllMasters(def)
	entries := make([]listEntry, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries[i].name = strings.TrimSuffix(filepath.Base(c.Path), ".sock")
			entries[i].st, entries[i].err = c.StatusWithUsage() // a quarter of a second each, side by side
		}()
	}
	wg.Wait()
	if state, err := daemon.StateDir(); err == nil {
		for _, r := range daemon.ReadRecords(state) {
			if !slices.ContainsFunc(entries, func(e listEntry) bool { return e.name == r.Name }) {
				entries = append(entries, listEntry{name: r.Name})
			}
		}
	}
	if names != nil {
		entries = slices.DeleteFunc(entries, func(e listEntry) bool { return !slices.Contains(names, e.name) })
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	return entries
}

// renderList is pm2 ls's table: one row per worker. CPU and memory are
// "-" when they could not be sampled, never a made-up 0.
func renderList(out io.Writer, entries []listEntry) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tNAMESPACE\tSLOT\tPID\tUPTIME\tRESTARTS\tSTATUS\tCPU\tMEMORY")
	for _, e := range entries {
		switch {
		case e.err != nil:
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tunreachable: %v\t-\t-\n", e.name, e.err)
		case e.st == nil:
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tstopped\t-\t-\n", e.name)
		case len(e.st.Workers) == 0:
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\tno workers\t-\t-\n", e.name, control.OrDash(e.st.Namespace))
		}
		if e.st == nil {
			continue
		}
		namespace := control.OrDash(e.st.Namespace) // PM2's "default" is no namespace here: "-", as describe shows it
		for _, w := range e.st.Workers {
			slot, pid, uptime, cpu, mem := strconv.Itoa(w.Slot), "-", "-", "-", "-"
			if w.Successor {
				slot += " (new)"
			}
			if w.PID != 0 {
				pid, uptime = strconv.Itoa(w.PID), time.Duration(w.Uptime).Round(time.Second).String()
			}
			if w.CPUPercent != nil {
				cpu = fmt.Sprintf("%.0f%%", *w.CPUPercent)
			}
			if w.RSSBytes > 0 {
				mem = fmt.Sprintf("%.1f MiB", float64(w.RSSBytes)/(1<<20))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.name, namespace, slot, pid, uptime, w.Restarts, w.State, cpu, mem)
		}
	}
	return tw.Flush()
}

func newListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "One row per worker of every app of this user, stopped apps included (pm2 ls)",
		Long: `ls shows every app of this user: one row per worker with its PM2
namespace ("-" for none), slot, pid, uptime, restarts, state, CPU (sampled over a quarter of a second, as top
does) and memory; "-" where a figure could not be read. An app started in
the background and then stopped, killed or lost (a reboot) is listed as
stopped: clusterd start NAME brings it back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return renderList(cmd.OutOrStdout(), listApps(nil))
		},
	}
}

// appOrAll reads the APP|all argument: the names it means (every app
// running or recorded for "all"; every running app of a PM2 namespace of
// that name when no app has it), and whether it was "all".
func appOrAll(arg string) ([]string, bool) {
	if arg != "all" {
		if path, err := control.DefaultPath(arg); err == nil {
			if _, err := os.Stat(path); err == nil {
				return []string{arg}, false // an app's name wins over a namespace
			}
		}
		var names []string
		for _, e := range listApps(nil) {
			if e.st != nil && e.st.Namespace == arg && e.name != arg {
				names = append(names, e.name)
			}
		}
		if len(names) > 0 {
			return names, false
		}
		return []string{arg}, false
	}
	var names []string
	for _, e := range listApps(nil) {
		names = append(names, e.name)
	}
	return names, true
}

// namespaceApps are the apps of the PM2 namespace arg, or nil when arg
// is an app's name or no namespace's.
func namespaceApps(arg string) []string {
	names, all := appOrAll(arg)
	if all || len(names) != 1 || names[0] != arg {
		return names
	}
	return nil
}

// clientOf is the control client of the app called name.
func clientOf(name string) (*control.Client, error) {
	path, err := control.DefaultPath(name)
	if err != nil {
		return nil, usageError{Err: err}
	}
	return &control.Client{Path: path}, nil
}

// eachApp runs do for every app arg names, and joins the failures.
func eachApp(arg string, do func(name string) error) error {
	names, all := appOrAll(arg)
	if all && len(names) == 0 {
		return errors.New("no app runs or is recorded for this user")
	}
	var failed []string
	for _, name := range names {
		if err := do(name); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

func newRestartCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "restart APP|all",
		Short: "Replace every worker, ready-gated like reload; start the app if it is stopped",
		Long: `restart is reload: each worker is replaced only once its successor is ready, so
a PM2 habit (pm2 restart) never takes the app down, and a release that never
becomes ready aborts with the old workers serving (exit 1). A stopped app is
started from its record, as clusterd start NAME does.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachApp(args[0], func(name string) error {
				client, err := clientOf(name)
				if err != nil {
					return err
				}
				if _, err := client.Status(); errors.Is(err, control.ErrNoMaster) {
					return startRecorded(cmd.OutOrStdout(), name)
				}
				if err := client.Reload(); err != nil {
					return fmt.Errorf("app %s: %w", name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "restarted %s (rolling, ready-gated)\n", name)
				return nil
			})
		},
	}
}

// startRecorded starts the stopped app called name again from its record,
// in the background; if it runs, it is reloaded (startOrReload).
func startRecorded(out io.Writer, name string) error {
	state, err := daemon.StateDir()
	if err != nil {
		return err
	}
	rec, err := daemon.ReadRecord(state, name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: no such file or program, and no app of that name was started before (clusterd ls)", name)
	} else if err != nil {
		return fmt.Errorf("the record of app %s: %w", name, err)
	}
	t, err := recordTarget(rec)
	if err != nil {
		return fmt.Errorf("app %s cannot start again as it was started (clusterd %s): %w", name, strings.Join(rec.Args, " "), err)
	}
	client := daemon.Client(t.configs[0])
	if _, err := client.Status(); err == nil {
		if err := client.Reload(); err != nil {
			return fmt.Errorf("app %s runs already; its reload failed: %w", name, err)
		}
		fmt.Fprintf(out, "running already, reloaded: %s\n", name)
		return renderList(out, listApps([]string{name}))
	}
	if err := daemon.SpawnAndWait(state, noDaemon(rec.WithListen()), rec.Dir, rec.Env, t.configs); err != nil {
		return err
	}
	return renderList(out, listApps([]string{name}))
}

// noDaemon is a record's `start ...` with --no-daemon: what the background
// master runs.
func noDaemon(args []string) []string {
	return append([]string{args[0], "--no-daemon"}, args[1:]...)
}

// recordTarget reads the record's command line as start would have, in its
// directory: the app's configuration (with the saved addresses).
func recordTarget(r daemon.Record) (*startTarget, error) {
	cmd := newStartCommand()
	args := r.WithListen()
	if len(args) < 2 || args[0] != "start" {
		return nil, fmt.Errorf("not a start command line: %q", args)
	}
	if err := cmd.ParseFlags(args[1:]); err != nil {
		return nil, err
	}
	profile, _ := cmd.Flags().GetString("env")
	only, _ := cmd.Flags().GetString("only")
	t, err := readStartTarget(cmd, r.Dir, cmd.Flags().Args(), profile, only)
	if err == nil && len(t.configs) == 0 {
		err = fmt.Errorf("%s is no longer a file or program", args[1])
	}
	return t, err
}

func newDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "delete APP|all",
		Aliases: []string{"del"},
		Short:   "Stop an app and forget it: ls no longer lists it, start NAME no longer knows it",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			state, err := daemon.StateDir()
			if err != nil {
				return err
			}
			return eachApp(args[0], func(name string) error {
				client, err := clientOf(name)
				if err != nil {
					return err
				}
				if err := client.Stop(); err != nil && !errors.Is(err, control.ErrNoMaster) {
					return fmt.Errorf("app %s: %w", name, err)
				}
				if err := daemon.RemoveRecord(state, name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", name)
				return nil
			})
		},
	}
}

// stopApps is `stop all` and `kill`: stop every master found (kill) or
// every app ls lists (stop all); records stay, so they list as stopped.
func stopApps(out io.Writer, names []string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client, err := clientOf(name)
			if err == nil {
				err = client.Stop()
			}
			if errors.Is(err, control.ErrNoMaster) {
				err = nil // stopped already
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(out, "stopped %d apps\n", len(names))
	return nil
}

func newKillCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "kill",
		Short: "Stop every master of this user, gracefully (pm2 kill); saved and recorded apps are kept",
		Long: `kill stops every clusterd master this user runs, background or foreground,
each draining its workers as clusterd stop does, and returns once all have
exited. The records stay: ls lists the apps as stopped, and resurrect starts
what save wrote.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			def, err := control.DefaultPath("default")
			if err != nil {
				return err
			}
			var names []string
			for _, c := range control.AllMasters(def) {
				names = append(names, strings.TrimSuffix(filepath.Base(c.Path), ".sock"))
			}
			return stopApps(cmd.OutOrStdout(), names)
		},
	}
}

func newDescribeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe APP",
		Short: "Everything about one app: its master, settings, log files, record and workers (pm2 describe)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			var b strings.Builder
			client, err := clientOf(name)
			if err != nil {
				return err
			}
			st, err := client.StatusWithUsage()
			state, _ := daemon.StateDir()
			rec, recErr := daemon.ReadRecord(state, name)
			switch {
			case errors.Is(err, control.ErrNoMaster) && recErr != nil:
				return fmt.Errorf("no app %s runs or was started before (clusterd ls)", name)
			case err != nil && !errors.Is(err, control.ErrNoMaster):
				return err
			}
			row := func(k, v string) { fmt.Fprintf(&b, "%-14s %s\n", k+":", v) }
			row("app", name)
			if st == nil {
				row("status", "stopped")
			} else {
				row("status", "running")
				row("master pid", strconv.Itoa(st.PID))
				row("started", st.StartedAt.Format(time.RFC3339)+" ("+time.Since(st.StartedAt).Round(time.Second).String()+" ago)")
				row("command", strings.Join(st.Command, " "))
				row("cwd", control.OrDash(st.Dir))
				row("namespace", control.OrDash(st.Namespace))
				row("instances", strconv.Itoa(st.Instances))
				row("listening", control.OrDash(strings.Join(st.Listeners, ", ")))
				row("log files", control.OrDash(strings.Join(st.LogFiles, ", ")))
				row("control", client.Path)
				row("generation", strconv.Itoa(st.Generation))
			}
			if recErr == nil {
				row("started by", "clusterd "+strings.Join(rec.Args, " "))
				row("started in", rec.Dir)
			} else {
				row("started by", "a foreground master (no record: not listed once stopped)")
			}
			if _, err := io.WriteString(cmd.OutOrStdout(), b.String()); err != nil || st == nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return renderList(cmd.OutOrStdout(), []listEntry{{name: name, st: st}})
		},
	}
}

func newEnvCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "env APP [SLOT]",
		Short: "The environment of an app's worker (slot 0 unless SLOT), as it runs: /proc/PID/environ",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			slot := 0
			if len(args) == 2 {
				n, err := strconv.Atoi(args[1])
				if err != nil {
					return usageError{Err: fmt.Errorf("slot %q: want a number", args[1])}
				}
				slot = n
			}
			client, err := clientOf(args[0])
			if err != nil {
				return err
			}
			st, err := client.Status()
			if err != nil {
				return err
			}
			pid, err := st.WorkerPID(slot)
			if err != nil {
				return err
			}
			environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if err != nil {
				return fmt.Errorf("worker %d of app %s: %w", pid, args[0], err)
			}
			vars := strings.Split(string(bytes.TrimRight(environ, "\x00")), "\x00")
			slices.Sort(vars)
			_, err = fmt.Fprintln(cmd.OutOrStdout(), strings.Join(vars, "\n"))
			return err
		},
	}
}

func newSignalCommand() *cobra.Command {
	slot := -1
	cmd := &cobra.Command{
		Use:   "signal SIGNAL APP [--slot N]",
		Short: "Send a signal to every worker of an app, or to one slot's (pm2 sendSignal)",
		Long: `signal sends SIGNAL (SIGUSR2, USR2 or 12) to each worker process of APP, or
only to slot N's, by pid: not to the master, which has its own signals
(see clusterd --help), and not to the whole process group.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := parseSignal(args[0])
			if err != nil {
				return usageError{Err: err}
			}
			client, err := clientOf(args[1])
			if err != nil {
				return err
			}
			st, err := client.Status()
			if err != nil {
				return err
			}
			var pids []int
			if slot >= 0 {
				pid, err := st.WorkerPID(slot)
				if err != nil {
					return err
				}
				pids = []int{pid}
			} else {
				for _, w := range st.Workers {
					if w.PID != 0 {
						pids = append(pids, w.PID)
					}
				}
			}
			if len(pids) == 0 {
				return fmt.Errorf("app %s has no worker running", args[1])
			}
			for _, pid := range pids {
				if err := syscall.Kill(pid, sig); err != nil {
					return fmt.Errorf("worker %d of app %s: %w", pid, args[1], err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sent %s to %d workers of %s\n", unix.SignalName(sig), len(pids), args[1])
			return nil
		},
	}
	cmd.Flags().IntVar(&slot, "slot", -1, "only the worker of this slot")
	return cmd
}

// parseSignal reads SIGUSR2, USR2 or 12.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("%s: not a signal (SIGUSR2, USR2 or 12)", s)
}

func newFlushCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "flush [APP]",
		Short: "Empty the log files of an app, or of every app and daemon.log (pm2 flush)",
		Long: `flush truncates the log files the app's workers write (--log, --out-file,
--error-file, or the file's out_file, error_file, log_file); the master
goes on appending to them. Without APP, every running app's and the
background masters' daemon.log. The in-memory lines of clusterd logs stay.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var files []string
			var names []string
			if len(args) == 1 {
				names = args
			} else if state, err := daemon.StateDir(); err == nil {
				files = append(files, filepath.Join(state, "daemon.log"))
			}
			for _, e := range listApps(names) {
				if e.st != nil {
					files = append(files, e.st.LogFiles...)
				}
			}
			if len(args) == 1 && len(files) == 0 {
				if _, err := (&control.Client{Path: mustPath(args[0])}).Status(); err != nil {
					return err
				}
			}
			flushed := 0
			for _, f := range files {
				if err := os.Truncate(f, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("flush: %w", err)
				} else if err == nil {
					flushed++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "flushed %d log files\n", flushed)
			return nil
		},
	}
}

func mustPath(name string) string {
	p, _ := control.DefaultPath(name)
	return p
}

func dumpPath(state string) string { return filepath.Join(state, "dump.json") }

func newSaveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "save",
		Short: "Write the running apps, with their settings and addresses, to the dump file for resurrect (pm2 save)",
		Long: `save writes every running app that start ran in the background to dump.json in
the state directory: the command line it was started with (a config file is
read again by resurrect), its directory, its environment, and the addresses
it listens on now, which resurrect opens again (the same ports, even those
the kernel chose for :0). An app started in the foreground (clusterd --
COMMAND, clusterd -c FILE, start --no-daemon) has no record: it is named and
left out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			state, err := daemon.StateDir()
			if err != nil {
				return err
			}
			var saved []daemon.Record
			var names, foreground []string
			for _, e := range listApps(nil) {
				if e.st == nil {
					continue
				}
				rec, err := daemon.ReadRecord(state, e.name)
				if err != nil {
					foreground = append(foreground, e.name)
					continue
				}
				rec.Listen = e.st.Listeners
				saved = append(saved, rec)
				names = append(names, e.name)
			}
			if err := daemon.WriteJSON(dumpPath(state), saved); err != nil {
				return fmt.Errorf("save: %w", err)
			}
			if len(foreground) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "clusterd: not saved, started in the foreground: %s\n", strings.Join(foreground, ", "))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "saved %d apps to %s: %s\n", len(saved), dumpPath(state), strings.Join(names, ", "))
			return nil
		},
	}
}

// readDump is what save wrote.
func readDump(state string) ([]daemon.Record, error) {
	var recs []daemon.Record
	b, err := os.ReadFile(dumpPath(state))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("nothing saved: %s does not exist (clusterd save)", dumpPath(state))
	}
	if err == nil {
		err = json.Unmarshal(b, &recs)
	}
	if err != nil {
		return nil, fmt.Errorf("resurrect: %w", err)
	}
	return recs, nil
}

func newResurrectCommand() *cobra.Command {
	var foreground bool
	cmd := &cobra.Command{
		Use:   "resurrect [APP...]",
		Short: "Start the apps save wrote, on the same addresses, in one background master (pm2 resurrect)",
		Long: `resurrect starts every app of the dump file (or the APPs named) that does not
run, all in one master process in the background, and returns once they are
ready, as start does. --no-daemon runs them here in the foreground: what the
unit of clusterd startup runs at boot.`,
		RunE: func(cmd *cobra.Command, names []string) error {
			state, err := daemon.StateDir()
			if err != nil {
				return err
			}
			recs, err := readDump(state)
			if err != nil {
				return err
			}
			if len(names) > 0 {
				recs = slices.DeleteFunc(recs, func(r daemon.Record) bool { return !slices.Contains(names, r.Name) })
			}
			if foreground {
				return runApps(func() ([]config.Config, error) { return resurrectConfigs(recs) }, false)
			}
			var toStart []string
			var configs []config.Config
			for _, r := range recs {
				t, err := recordTarget(r)
				if err != nil {
					return fmt.Errorf("app %s: %w", r.Name, err)
				}
				if _, err := daemon.Client(t.configs[0]).Status(); err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "running already: %s\n", r.Name)
					continue
				}
				if err := daemon.WriteRecord(state, r); err != nil {
					return err
				}
				toStart = append(toStart, r.Name)
				configs = append(configs, t.configs...)
			}
			if len(toStart) > 0 {
				cwd, _ := os.Getwd()
				if err := daemon.SpawnAndWait(state, append([]string{"resurrect", "--no-daemon"}, toStart...), cwd, os.Environ(), configs); err != nil {
					return err
				}
			}
			var all []string
			for _, r := range recs {
				all = append(all, r.Name)
			}
			return renderList(cmd.OutOrStdout(), listApps(all))
		},
	}
	cmd.Flags().BoolVar(&foreground, "no-daemon", false, "run the saved apps here in the foreground (for systemd: clusterd startup)")
	return cmd
}

// resurrectConfigs are the saved apps' configurations, each read as its
// start read it, in its directory, with its environment and addresses.
// A config file's app reads its file again on each reload.
func resurrectConfigs(recs []daemon.Record) ([]config.Config, error) {
	var configs []config.Config
	for _, r := range recs {
		t, err := recordTarget(r)
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", r.Name, err)
		}
		loaded, err := t.load()
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", r.Name, err)
		}
		for _, cfg := range loaded {
			withEnv := func(cfg config.Config) config.Config {
				cfg.Env = append(slices.Clone(r.Env), cfg.Env...)
				return cfg
			}
			if again := cfg.Reconfigure; again != nil {
				cfg.Reconfigure = func() (config.Config, error) {
					next, err := again()
					return withEnv(next), err
				}
			}
			configs = append(configs, withEnv(cfg))
		}
	}
	return configs, nil
}
