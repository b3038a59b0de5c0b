package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clusterd/clusterd/appfile"
	"github.com/clusterd/clusterd/master"
	"github.com/clusterd/clusterd/process"
)

func newStartCommand() *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:   "start FILE",
		Short: "Run the apps of a YAML or JSON config file (PM2's ecosystem fields), each with its own sockets and workers",
		Long: `start runs every app of FILE under this one master process: each app has its
own sockets, workers and control socket (named after the app), so
"clusterd status APP", "clusterd reload APP" and "clusterd logs APP" address
one app. A field of an app is PM2's name for it (script, args, instances,
env, env_PROFILE, wait_ready, kill_timeout, max_memory_restart, ...) or a
clusterd flag's name with underscores (health_check, reuseport, ...).
Flags given here override the file's for every app.

SIGHUP, or clusterd reload APP, re-reads FILE before the rolling reload: a
file that no longer reads aborts the reload with the line and the field, and
every worker keeps running. "clusterd start FILE" is "clusterd -c FILE".`,
		Example: `  clusterd start apps.yml
  clusterd start apps.yml --env production`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigFile(args[0], profile, cmd.Flags())
		},
	}
	f := cmd.Flags()
	newMasterFlags(f) // the values reach each app through the flag set (appConfig)
	f.StringVar(&profile, "env", "", "merge each app's env_PROFILE over its env (PM2's --env)")
	return cmd
}

// runConfigFile runs every app of the file at path under this process, one
// master each, until all have stopped. SIGHUP and reload --all read the
// file again: every app reloads what it says, and its new apps start.
func runConfigFile(path, profile string, flags *pflag.FlagSet) error {
	cli := commandLine(flags)
	json, _ := flags.GetBool("log-json")
	return runApps(func() ([]master.Config, error) { return loadConfigs(path, profile, cli) }, json)
}

// runApps runs the apps that apps reads under one process owner.
func runApps(apps func() ([]master.Config, error), logJSON bool) error {
	p, err := process.New(process.Options{Apps: apps, Logger: newLogger(slog.LevelInfo, logJSON)})
	if err != nil {
		return err
	}
	return p.Run(context.Background())
}

// loadConfigs reads the file's apps into one master configuration each.
// Each one's Reconfigure reads the file again for its own app, so a reload
// runs what the file says then.
func loadConfigs(path, profile string, cli flagValues) ([]master.Config, error) {
	configs, err := readConfigs(path, profile, cli)
	if err != nil {
		return nil, err
	}
	for i := range configs {
		name := configs[i].Name
		configs[i].Reconfigure = func() (master.Config, error) {
			again, err := readConfigs(path, profile, cli)
			if err != nil {
				return master.Config{}, err
			}
			for _, cfg := range again {
				if cfg.Name == name {
					return cfg, nil
				}
			}
			return master.Config{}, fmt.Errorf("%s: app %q is no longer in the file: its workers keep running; stop it with clusterd stop %s", path, name, name)
		}
		configs[i].Logger = configs[i].Logger.With("app", name)
	}
	return configs, nil
}

// readConfigs reads the file once: one configuration per app, from the
// defaults, then the app's fields, then the flags on the command line.
func readConfigs(path, profile string, cli flagValues) ([]master.Config, error) {
	apps, err := appfile.Load(path, profile)
	if err != nil {
		return nil, err
	}
	if len(apps) > 1 {
		for _, perProcess := range []string{"name", "control", "pidfile"} {
			if cli.has(perProcess) {
				return nil, usageError{fmt.Errorf("--%s is one app's, and %s has %d apps: give each app its own %s in the file", perProcess, path, len(apps), perProcess)}
			}
		}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	configs := make([]master.Config, 0, len(apps))
	for _, app := range apps {
		cfg, err := appConfig(path, dir, app, cli)
		if err != nil {
			return nil, err
		}
		configs = append(configs, cfg)
	}
	return configs, nil
}

// appConfig is one app's configuration. Its fields are set as the flags of
// the same name would be, so a value reads the same in the file and on the
// command line; relative paths are the file's directory's.
func appConfig(path, dir string, app appfile.App, cli flagValues) (master.Config, error) {
	fs := pflag.NewFlagSet(app.Name, pflag.ContinueOnError)
	flags := newMasterFlags(fs)
	// As in PM2, an app runs one instance unless its instances says more.
	flags.instances.Set("1")
	for _, s := range app.Settings {
		fail := func(err error) (master.Config, error) {
			return master.Config{}, &appfile.Error{Path: path, Line: s.Line, App: app.Name, Index: app.Index, Field: s.Field, Err: err}
		}
		flag := fs.Lookup(s.Flag)
		if flag == nil {
			if near := nearestField(s.Field, fs); near != "" {
				return fail(fmt.Errorf("unknown field: did you mean %s?", near))
			}
			return fail(errors.New("unknown field: want one of PM2's (script, args, instances, env, wait_ready, kill_timeout, ...) or a clusterd flag's name with underscores"))
		}
		if err := setFlag(flag, s.Values); err != nil {
			return fail(err)
		}
	}
	// The command line wins over the file.
	for _, given := range cli {
		if to := fs.Lookup(given.name); to != nil {
			if err := setFlag(to, given.values); err != nil {
				return master.Config{}, err
			}
		}
	}
	cfg := flags.config()
	if !cli.has("name") {
		cfg.Name = app.Name
	}
	cfg.Command, cfg.Env = app.Command, app.Env
	// PM2 runs an app in the file's directory unless its cwd says otherwise.
	cfg.Dir = inDir(dir, cfg.Dir)
	if cfg.Dir == "" {
		cfg.Dir = dir
	}
	for _, file := range []*string{&cfg.LogFile, &cfg.OutFile, &cfg.ErrorFile, &cfg.Pidfile} {
		*file = inDir(dir, *file)
	}
	return cfg, nil
}

// flagValues are the flags given on the command line, with their values,
// read once: every re-read of the file applies them again, from any
// master's goroutine, without touching the flag set.
type flagValues []givenFlag

type givenFlag struct {
	name   string
	values []string
}

func commandLine(fs *pflag.FlagSet) flagValues {
	var out flagValues
	fs.Visit(func(f *pflag.Flag) {
		values := []string{f.Value.String()}
		if slice, ok := f.Value.(pflag.SliceValue); ok {
			values = slice.GetSlice()
		}
		out = append(out, givenFlag{f.Name, values})
	})
	return out
}

func (v flagValues) has(name string) bool {
	return slices.ContainsFunc(v, func(f givenFlag) bool { return f.name == name })
}

// setFlag gives flag the values of one field: a list replaces a
// repeatable flag's values, anything else takes one value.
func setFlag(flag *pflag.Flag, values []string) error {
	if slice, ok := flag.Value.(pflag.SliceValue); ok {
		return slice.Replace(values)
	}
	if len(values) != 1 {
		return fmt.Errorf("want one value, not a list of %d", len(values))
	}
	return flag.Value.Set(values[0])
}

// inDir is path relative to dir when it is relative.
func inDir(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// nearestField is the field name closest to a mistyped one, if one is
// close: a flag's name with underscores, or one of PM2's own.
func nearestField(field string, fs *pflag.FlagSet) string {
	best, bestDistance := "", 3 // at most two edits away
	consider := func(name string) {
		if d := editDistance(field, name); d < bestDistance {
			best, bestDistance = name, d
		}
	}
	fs.VisitAll(func(f *pflag.Flag) { consider(strings.ReplaceAll(f.Name, "-", "_")) })
	for _, name := range appfile.Fields() {
		consider(name)
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
