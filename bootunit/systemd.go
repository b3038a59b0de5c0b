// Package bootunit writes the systemd unit that runs a clusterd master at
// boot (clusterd startup), from the very command line the user would run.
package bootunit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/clusterd/clusterd/config"
	"github.com/spf13/pflag"
)

// ErrNoCommand: the command line names neither a command nor a config file.
var ErrNoCommand = errors.New("no command given: clusterd startup [systemd] [MASTER FLAGS] -- COMMAND [ARGS...], or -c FILE")

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

// Systemd renders the unit of a master started with masterArgs, which f
// holds parsed as the master parses them, with absolute paths (systemd
// runs nothing relative). readApps reads a config file's apps (-c FILE),
// so that the file is checked now and the unit reloads every app.
func Systemd(f *pflag.FlagSet, masterArgs []string, readApps func(path, profile string) ([]config.Config, error)) (unit, unitName string, err error) {
	command := f.Args()
	configFile, _ := f.GetString("config")
	name, _ := f.GetString("name")
	control, _ := f.GetString("control")
	var killTimeout time.Duration = config.Defaults().KillTimeout
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
		configs, err := readApps(configFile, profile)
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
		return "", "", ErrNoCommand
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
