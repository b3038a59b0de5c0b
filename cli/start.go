package cli

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/daemon"
)

// startTarget is what `clusterd start X` was given, read.
type startTarget struct {
	// path is the config file or script, absolute; empty when X named a
	// stopped app's record.
	path    string
	isFile  bool
	dir     string   // where start was run: a script's workers run there
	args    []string // a script's own arguments (after --)
	profile string
	only    []string
	flags   *pflag.FlagSet
	configs []config.Config // the apps, as read now (checked before anything starts)
}

// readStartTarget reads X: a config file (by its name, as PM2 tells them
// apart), the name of an app started before (its record), or a script or
// program (a file here or a program in PATH). A plain name is an app's
// before a file's, as in PM2: `start server` starts the app named server
// again with its own settings, not ./server with none.
// dir is where start runs (a record's directory when it is run again).
func readStartTarget(cmd *cobra.Command, dir string, args []string, profile, only string) (*startTarget, error) {
	t := &startTarget{profile: profile, flags: cmd.Flags(), dir: dir}
	var err error
	if only != "" {
		t.only = strings.Split(only, ",")
	}
	cli := appconfig.ReadCommandLine(cmd.Flags())
	target := args[0]
	t.args = args[1:]
	switch {
	case appconfig.IsConfigFile(target):
		if len(t.args) > 0 {
			return nil, usageError{Err: fmt.Errorf("arguments after %s: a config file's apps take theirs from the file (args:)", target)}
		}
		t.path, t.isFile = filepath.Join(t.dir, target), true
		if filepath.IsAbs(target) {
			t.path = target
		}
		if t.configs, err = appconfig.Read(t.path, profile, cli, newLogger); err != nil {
			return nil, err
		}
	case !strings.Contains(target, "/") && hasRecord(target):
		return t, nil // an app started before: pm2 start NAME
	case isProgram(filepath.Join(dir, target)) || isProgram(target):
		if profile != "" || only != "" {
			return nil, usageError{Err: fmt.Errorf("--env and --only choose among a config file's apps: %s is a program", target)}
		}
		t.path = target
		if _, err := os.Stat(filepath.Join(dir, target)); err == nil && !filepath.IsAbs(target) {
			t.path = filepath.Join(dir, target)
		}
		if t.configs, err = appconfig.Script(t.dir, t.path, t.args, cli, newLogger); err != nil {
			return nil, err
		}
	default:
		return t, nil // a name: the caller looks for its record
	}
	if len(t.only) > 0 {
		t.configs = onlyApps(t.configs, t.only)
		if len(t.configs) == 0 {
			return nil, usageError{Err: fmt.Errorf("--only %s: no such app in %s", only, target)}
		}
	}
	return t, nil
}

// hasRecord: an app of that name was started in the background before.
func hasRecord(name string) bool {
	state, err := daemon.StateDir()
	if err != nil {
		return false
	}
	_, err = os.Stat(daemon.RecordPath(state, name))
	return err == nil
}

// isProgram: a file, or a program found in PATH.
func isProgram(target string) bool {
	if fi, err := os.Stat(target); err == nil {
		return !fi.IsDir()
	}
	_, err := exec.LookPath(target)
	return !strings.Contains(target, "/") && err == nil
}

func onlyApps(configs []config.Config, names []string) []config.Config {
	return slices.DeleteFunc(configs, func(c config.Config) bool { return !slices.Contains(names, c.Name) })
}

// load reads the apps again, as the master process does at its start and
// on every SIGHUP.
func (t *startTarget) load() ([]config.Config, error) {
	cli := appconfig.ReadCommandLine(t.flags)
	var configs []config.Config
	var err error
	if t.isFile {
		configs, err = appconfig.Load(t.path, t.profile, cli, newLogger)
	} else {
		configs, err = appconfig.Script(t.dir, t.path, t.args, cli, newLogger)
	}
	if err != nil || len(t.only) == 0 {
		return configs, err
	}
	return onlyApps(configs, t.only), nil
}

// commandLine is `clusterd start ...` for the apps named (all of them when
// none is): absolute paths, the flags as given, --only for one app of a
// file. noDaemon puts --no-daemon first.
func (t *startTarget) commandLine(noDaemon bool, names ...string) []string {
	args := []string{"start"}
	if noDaemon {
		args = append(args, "--no-daemon")
	}
	args = append(args, t.path)
	if t.isFile && len(names) > 0 {
		args = append(args, "--only="+strings.Join(names, ","))
	}
	t.flags.Visit(func(f *pflag.Flag) {
		if f.Name == "no-daemon" || f.Name == "only" {
			return
		}
		if slice, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range slice.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	if len(t.args) > 0 {
		args = append(append(args, "--"), t.args...)
	}
	return args
}

// startInBackground is `clusterd start` without --no-daemon: the apps that
// already run are reloaded (PM2's startOrReload), the others start in a
// new master process of their own session, and it returns once every app
// has every slot ready, printing the table, or fails with the reason and
// the failing worker's last lines.
func startInBackground(out io.Writer, t *startTarget) error {
	state, err := daemon.StateDir()
	if err != nil {
		return err
	}
	cwd := t.dir
	var toStart []config.Config
	var names, reloaded []string
	for _, cfg := range t.configs {
		names = append(names, cfg.Name)
		client := daemon.Client(cfg)
		if _, err := client.Status(); err != nil {
			toStart = append(toStart, cfg)
			continue
		}
		// Already running: a ready-gated rolling reload, which re-reads a
		// config file; a script's new flags need delete + start.
		if err := client.Reload(); err != nil {
			return fmt.Errorf("app %s runs already; its reload failed: %w", cfg.Name, err)
		}
		reloaded = append(reloaded, cfg.Name)
	}
	if len(toStart) > 0 {
		var starting []string
		for _, cfg := range toStart {
			starting = append(starting, cfg.Name)
			rec := daemon.Record{Name: cfg.Name, Args: t.commandLine(false, cfg.Name), Dir: cwd, Env: daemon.SavedEnv()}
			if !t.isFile {
				rec.Args = t.commandLine(false)
			}
			if err := daemon.WriteRecord(state, rec); err != nil {
				return fmt.Errorf("state directory: %w", err)
			}
		}
		if err := daemon.SpawnAndWait(state, t.commandLine(true, starting...), cwd, os.Environ(), toStart); err != nil {
			return err
		}
	}
	if len(reloaded) > 0 {
		fmt.Fprintf(out, "running already, reloaded: %s\n", strings.Join(reloaded, ", "))
	}
	return renderList(out, listApps(names))
}
