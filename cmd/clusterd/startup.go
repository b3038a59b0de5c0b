package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/clusterd/clusterd/bootunit"
	"github.com/clusterd/clusterd/master"
)

func newStartupCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "startup [systemd] [--install] [MASTER FLAGS] (-- COMMAND [ARGS...] | -c FILE)",
		Short: "Print (or --install) a systemd unit that runs this cluster at boot",
		Long: `startup turns a clusterd command line into a systemd service, as pm2 startup
does. Give it exactly the flags and command you would give clusterd:

  clusterd startup systemd -i max -l :80 -- /srv/app/server
  clusterd startup systemd --install --name api -i 4 -- node server.js
  clusterd startup systemd -c /srv/apps.yml --env production

A config file is read (and checked) now; the unit is named after it, and
systemctl reload reloads all of its apps (clusterd reload --all --pid $MAINPID).

With --install the unit is written to /etc/systemd/system/clusterd-NAME.service;
then run: systemctl daemon-reload && systemctl enable --now clusterd-NAME.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			install := false
			for len(args) > 0 && (args[0] == "systemd" || args[0] == "--install") {
				install = install || args[0] == "--install"
				args = args[1:]
			}
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return cmd.Help()
			}
			if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				// PM2 takes a platform here (upstart, launchd, ...): only
				// systemd is made, and a word is never taken for a command.
				return usageError{Err: fmt.Errorf("startup %s: only systemd units are made (clusterd startup systemd [--install] MASTER FLAGS -- COMMAND)", args[0])}
			}
			root := newRootCommand()
			if err := root.ParseFlags(args); err != nil {
				return usageError{Err: err}
			}
			unit, name, err := bootunit.Systemd(root.Flags(), args, func(path, profile string) ([]master.Config, error) {
				return appconfig.Read(path, profile, appconfig.ReadCommandLine(root.Flags()), newLogger)
			})
			if errors.Is(err, bootunit.ErrNoCommand) {
				return usageError{Err: err}
			}
			if err != nil {
				return err
			}
			if !install {
				_, err := fmt.Fprint(cmd.OutOrStdout(), unit)
				return err
			}
			path := filepath.Join("/etc/systemd/system", name)
			if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
				return fmt.Errorf("install unit: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\nnow run: systemctl daemon-reload && systemctl enable --now %s\n", path, strings.TrimSuffix(name, ".service"))
			return nil
		},
	}
}
