package cli

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/clusterd/clusterd/bootunit"
	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/daemon"
)

func newStartupCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "startup [systemd] [--install] [MASTER FLAGS] [(-- COMMAND [ARGS...] | -c FILE)]",
		Short: "Print (or --install) a systemd unit that brings back the saved apps, or runs this cluster, at boot",
		Long: `startup alone makes PM2's unit: at boot it runs the apps clusterd save wrote
(clusterd resurrect --no-daemon, in one master process), as this user:

  clusterd save && clusterd startup --install

The unit is clusterd-USER.service; clusterd unstartup removes it.

startup with a command line turns it into a systemd service instead. Give it
exactly the flags and command you would give clusterd:

  clusterd startup systemd -i max -l :80 -- /srv/app/server
  clusterd startup systemd --install --name api -i 4 -- node server.js
  clusterd startup systemd -c /srv/apps.yml --env production

A config file is read (and checked) now; the unit is named after it, and
systemctl reload reloads all of its apps (clusterd reload --all --pid $MAINPID).

With --install the unit is written to /etc/systemd/system/clusterd-NAME.service;
then run: systemctl daemon-reload && systemctl enable --now clusterd-NAME.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			install, unitDir := false, "/etc/systemd/system"
			for len(args) > 0 && (args[0] == "systemd" || args[0] == "--install" || strings.HasPrefix(args[0], "--unit-dir=")) {
				install = install || args[0] == "--install"
				if dir, ok := strings.CutPrefix(args[0], "--unit-dir="); ok {
					unitDir = dir
				}
				args = args[1:]
			}
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return cmd.Help()
			}
			if len(args) == 0 {
				unit, name, err := resurrectUnit()
				if err != nil {
					return err
				}
				return writeUnit(cmd, unit, name, install, unitDir)
			}
			if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				// PM2 takes a platform here (upstart, launchd, ...): only
				// systemd is made, and a word is never taken for a command.
				return usageError{Err: fmt.Errorf("startup %s: only systemd units are made (clusterd startup systemd [--install] MASTER FLAGS -- COMMAND)", args[0])}
			}
			root := NewRootCommand()
			if err := root.ParseFlags(args); err != nil {
				return usageError{Err: err}
			}
			unit, name, err := bootunit.Systemd(root.Flags(), args, func(path, profile string) ([]config.Config, error) {
				return appconfig.Read(path, profile, appconfig.ReadCommandLine(root.Flags()), newLogger)
			})
			if errors.Is(err, bootunit.ErrNoCommand) {
				return usageError{Err: err}
			}
			if err != nil {
				return err
			}
			return writeUnit(cmd, unit, name, install, unitDir)
		},
	}
}

// writeUnit prints the unit, or with install writes it to unitDir.
func writeUnit(cmd *cobra.Command, unit, name string, install bool, unitDir string) error {
	if !install {
		_, err := fmt.Fprint(cmd.OutOrStdout(), unit)
		return err
	}
	path := filepath.Join(unitDir, name)
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		return fmt.Errorf("install unit: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\nnow run: systemctl daemon-reload && systemctl enable --now %s\n", path, strings.TrimSuffix(name, ".service"))
	return nil
}

// resurrectUnit is the unit that runs the saved apps of this user at boot.
// The saved apps are read now, so a dump that would not start fails here,
// and the stop timeout covers the longest kill timeout among them.
func resurrectUnit() (unit, name string, err error) {
	state, err := daemon.StateDir()
	if err != nil {
		return "", "", err
	}
	recs, err := readDump(state)
	if err != nil {
		return "", "", err
	}
	killTimeout := config.Defaults().KillTimeout
	for _, r := range recs {
		t, err := recordTarget(r)
		if err != nil {
			return "", "", fmt.Errorf("saved app %s: %w", r.Name, err)
		}
		for _, cfg := range t.configs {
			killTimeout = max(killTimeout, cfg.KillTimeout)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return "", "", err
	}
	who, err := user.Current()
	if err != nil {
		return "", "", err
	}
	return bootunit.Resurrect(self, who.Username, os.Getuid() == 0, state, os.Getenv("XDG_RUNTIME_DIR"), killTimeout)
}

func newUnstartupCommand() *cobra.Command {
	var unitDir string
	cmd := &cobra.Command{
		Use:   "unstartup [NAME]",
		Short: "Remove the unit clusterd startup --install wrote (clusterd-USER.service, or clusterd-NAME.service)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			} else {
				who, err := user.Current()
				if err != nil {
					return err
				}
				name = who.Username
			}
			unit := "clusterd-" + strings.TrimSuffix(strings.TrimPrefix(name, "clusterd-"), ".service") + ".service"
			path := filepath.Join(unitDir, unit)
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("unstartup: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\nnow run: systemctl disable --now %s && systemctl daemon-reload\n", path, strings.TrimSuffix(unit, ".service"))
			return nil
		},
	}
	cmd.Flags().StringVar(&unitDir, "unit-dir", "/etc/systemd/system", "where the unit was installed")
	return cmd
}
