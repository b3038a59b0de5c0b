package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/process"
)

func newStartCommand() *cobra.Command {
	var profile, only string
	var noDaemon bool
	cmd := &cobra.Command{
		Use:   "start APP.js|APP.py|PROGRAM|FILE.yml|FILE.json|ecosystem.config.js|NAME [flags] [-- ARGS...]",
		Short: "Start apps in the background, as pm2 start does, and return once every worker is ready",
		Long: `start runs its apps in a master process of their own, in the background (its
own session: closing the terminal does not stop it; output in daemon.log of
the state directory), and returns once every slot of every app has a ready
worker, printing the table of clusterd ls. If a worker exits first, start
exits 1 with the reason and the worker's last lines; the master keeps
retrying it in the background (clusterd delete APP ends that).

A script or program (app.js, app.py, ./server) is one app, named by --name
or after the script as in PM2, with one instance unless -i says more and
the interpreter its extension calls for; its arguments come after --.
FILE.yml, FILE.json and ecosystem.config.js (by their names, as PM2 tells
them apart) are config files: every app of the file, or --only some. NAME
alone starts again an app that was started before and is stopped.

An app of that name that runs already is reloaded instead (pm2
startOrReload): the ready-gated rolling reload, which re-reads its config
file; a script's flags are those it was started with (delete it first to
change them).

--no-daemon runs the apps here in the foreground, as clusterd -c FILE and
clusterd [flags] -- COMMAND do (systemd, containers).

Every app of a config file has its own sockets, workers and control socket
(named after the app). A field is PM2's name (script, args, instances, env,
env_PROFILE, wait_ready, ...) or a clusterd flag's name with underscores;
flags given here override the file's for every app. SIGHUP, or clusterd
reload APP, re-reads FILE before the rolling reload: a file that no longer
reads aborts the reload with the line and the field, and every worker keeps
running.`,
		Example: `  clusterd start app.js -i max --name api
  clusterd start server.py -- --port 8000
  clusterd start ecosystem.config.js --env production
  clusterd start apps.yml --only api
  clusterd start apps.yml --no-daemon`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{Err: errors.New("start what? give a script, a program or a config file: clusterd start app.js | clusterd start apps.yml")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := os.Getwd()
			if err != nil {
				return err
			}
			t, err := readStartTarget(cmd, dir, args, profile, only)
			if err != nil {
				return err
			}
			if t.configs == nil {
				switch {
				case !hasRecord(args[0]):
					return fmt.Errorf("%s: no such file or program in %s, and no app of that name was started before (clusterd ls)", args[0], dir)
				case noDaemon || len(args) > 1:
					return usageError{Err: fmt.Errorf("%s is an app started before: clusterd start %s runs it again as it was started", args[0], args[0])}
				}
				return startRecorded(cmd.OutOrStdout(), args[0])
			}
			if noDaemon {
				json, _ := cmd.Flags().GetBool("log-json")
				return runApps(t.load, json)
			}
			return startInBackground(cmd.OutOrStdout(), t)
		},
	}
	f := cmd.Flags()
	appconfig.NewFlags(f) // the values reach each app through the flag set
	// As in PM2, an app runs one worker unless -i (or its file) says more.
	f.Lookup("instances").Value.Set("1") // not f.Set: a file's instances must still count
	f.Lookup("instances").DefValue = "1"
	f.StringVar(&profile, "env", "", "merge each app's env_PROFILE over its env (PM2's --env)")
	f.StringVar(&only, "only", "", "start only these apps of the config file (comma-separated names), as PM2's --only")
	f.BoolVar(&noDaemon, "no-daemon", false, "run the master here in the foreground (PM2's --no-daemon)")
	return cmd
}

// runConfigFile runs every app of the file at path under this process, one
// master each, until all have stopped. SIGHUP and reload --all read the
// file again: every app reloads what it says, and its new apps start.
func runConfigFile(path, profile string, flags *pflag.FlagSet) error {
	cli := appconfig.ReadCommandLine(flags)
	json, _ := flags.GetBool("log-json")
	return runApps(func() ([]config.Config, error) { return appconfig.Load(path, profile, cli, newLogger) }, json)
}

// runApps runs the apps that apps reads under one process owner.
func runApps(apps func() ([]config.Config, error), logJSON bool) error {
	p, err := process.New(process.Options{Apps: apps, Logger: newLogger(slog.LevelInfo, logJSON)})
	if err != nil {
		return err
	}
	return p.Run(context.Background())
}
