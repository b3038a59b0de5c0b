package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/clusterd/clusterd/master"
)

// unitTemplate is a systemd service for one cluster. Why each line:
//   - Type=notify: the master sends READY=1 once every worker is ready
//     (and RELOADING=1 during reloads, for systemd >= 253's notify-reload).
//   - ExecReload runs `clusterd reload`, which blocks until the rolling
//     reload is done and fails if it aborted, so `systemctl reload` says so.
//     For a config file, `reload --all --pid $MAINPID` reloads every app of
//     the service's process, whichever are running, and starts added ones.
//   - KillMode=mixed: SIGTERM goes to the master only, which drains its
//     workers in order; SIGKILL reaches the whole cgroup only after
//     TimeoutStopSec, set above the kill timeout.
//   - RuntimeDirectory holds the control socket.
var unitTemplate = template.Must(template.New("unit").Parse(`[Unit]
Description=clusterd {{.Name}}: {{.Command}}
After=network.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={{.ExecStart}}
{{range .Reloads}}ExecReload={{.}}
{{end}}WorkingDirectory={{.Dir}}
RuntimeDirectory=clusterd
RuntimeDirectoryPreserve=restart
KillMode=mixed
TimeoutStopSec={{.StopTimeout}}
Restart=on-failure

[Install]
WantedBy=multi-user.target
`))

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
			unit, name, err := systemdUnit(args)
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

// systemdUnit checks masterArgs by parsing them as the master would, and
// renders the unit with absolute paths (systemd runs nothing relative).
func systemdUnit(masterArgs []string) (unit, unitName string, err error) {
	root := newRootCommand()
	if err := root.ParseFlags(masterArgs); err != nil {
		return "", "", usageError{Err: err}
	}
	f := root.Flags()
	command := f.Args()
	configFile, _ := f.GetString("config")
	name, _ := f.GetString("name")
	control, _ := f.GetString("control")
	var killTimeout time.Duration = master.Defaults().KillTimeout
	if fl := f.Lookup("kill-timeout"); fl != nil && fl.Changed {
		if d, err := time.ParseDuration(fl.Value.String()); err == nil {
			killTimeout = d
		}
	}
	self, err := os.Executable()
	if err != nil {
		return "", "", err
	}
	var reloads []string // the ExecReload= lines
	switch {
	case configFile != "":
		if configFile, err = filepath.Abs(configFile); err != nil {
			return "", "", err
		}
		profile, _ := f.GetString("env")
		configs, err := appconfig.Read(configFile, profile, appconfig.ReadCommandLine(f), newLogger)
		if err != nil {
			return "", "", err
		}
		var apps, ownControls []string
		for _, cfg := range configs {
			if cfg.ControlPath != "" {
				ownControls = append(ownControls, cfg.ControlPath)
			}
			apps = append(apps, cfg.Name)
			killTimeout = max(killTimeout, cfg.KillTimeout)
		}
		// Every app of the service's process, found by its pid among the
		// sockets in /run/clusterd: an app stopped by hand is skipped, and
		// an app added to the file is started. Apps with control sockets
		// elsewhere are reloaded one by one.
		reloads = []string{quoteArgs([]string{self, "reload", "--all"}) + " --pid $MAINPID"}
		if len(ownControls) > 0 {
			reloads = nil
			for _, path := range ownControls {
				reloads = append(reloads, quoteArgs([]string{self, "reload", "--control", path}))
			}
		}
		masterArgs = withConfigPath(masterArgs, configFile)
		command = []string{strings.Join(apps, ", ") + " from " + configFile}
		if !f.Lookup("name").Changed {
			name = strings.TrimSuffix(filepath.Base(configFile), filepath.Ext(configFile))
		}
	case len(command) == 0:
		return "", "", usageError{Err: fmt.Errorf("no command given: clusterd startup [systemd] [MASTER FLAGS] -- COMMAND [ARGS...], or -c FILE")}
	default:
		if control == "" {
			control = filepath.Join("/run/clusterd", name+".sock")
		}
		reloads = []string{quoteArgs([]string{self, "reload", "--control", control})}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	// The master's own arguments as given, with the control socket made
	// explicit so ExecReload finds it.
	exec := []string{self}
	if configFile == "" && !f.Lookup("control").Changed {
		exec = append(exec, "--control", control)
	}
	exec = append(exec, masterArgs...)
	unitName = "clusterd-" + name + ".service"
	var b strings.Builder
	err = unitTemplate.Execute(&b, map[string]any{
		"Name":        name,
		"Command":     strings.Join(command, " "),
		"ExecStart":   quoteArgs(exec),
		"Reloads":     reloads,
		"Dir":         dir,
		"StopTimeout": int((killTimeout + 10*time.Second).Seconds()),
	})
	return b.String(), unitName, err
}

// quoteArgs writes a command line the way systemd's ExecStart parses it.
func quoteArgs(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\"'\\$%;") {
			quoted[i] = a
			continue
		}
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `$$`, `%`, `%%`)
		quoted[i] = `"` + r.Replace(a) + `"`
	}
	return strings.Join(quoted, " ")
}

// withConfigPath is args with the value of -c/--config replaced by path
// (made absolute: systemd runs nothing relative).
func withConfigPath(args []string, path string) []string {
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		switch a := out[i]; {
		case a == "--":
			return out
		case (a == "-c" || a == "--config") && i+1 < len(out):
			out[i+1] = path
			i++
		case strings.HasPrefix(a, "--config="):
			out[i] = "--config=" + path
		case strings.HasPrefix(a, "-c="):
			out[i] = "-c=" + path
		case strings.HasPrefix(a, "-c") && len(a) > 2:
			out[i] = "-c" + path
		}
	}
	return out
}
