package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clusterd/clusterd/appconfig"
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
	appconfig.NewFlags(f) // the values reach each app through the flag set
	f.StringVar(&profile, "env", "", "merge each app's env_PROFILE over its env (PM2's --env)")
	return cmd
}

// runConfigFile runs every app of the file at path under this process, one
// master each, until all have stopped. SIGHUP and reload --all read the
// file again: every app reloads what it says, and its new apps start.
func runConfigFile(path, profile string, flags *pflag.FlagSet) error {
	cli := appconfig.ReadCommandLine(flags)
	json, _ := flags.GetBool("log-json")
	return runApps(func() ([]master.Config, error) { return appconfig.Load(path, profile, cli, newLogger) }, json)
}

// runApps runs the apps that apps reads under one process owner.
func runApps(apps func() ([]master.Config, error), logJSON bool) error {
	p, err := process.New(process.Options{Apps: apps, Logger: newLogger(slog.LevelInfo, logJSON)})
	if err != nil {
		return err
	}
	return p.Run(context.Background())
}
