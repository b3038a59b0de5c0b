package bootunit

import (
	"fmt"
	"strings"
	"text/template"
	"time"
)

// resurrectTemplate is the unit of `clusterd startup` without a command
// line, PM2's: at boot it runs every app `clusterd save` wrote, in the
// foreground of one master process (`clusterd resurrect --no-daemon`).
// The lines are those of unitTemplate, for the same reasons; in addition:
//   - User= runs the masters as the user who saved the apps (not root's
//     unit); their state directory is given by CLUSTERD_HOME, and their
//     control sockets are where that user's clusterd looks
//     (XDG_RUNTIME_DIR when the user had one, which needs
//     `loginctl enable-linger USER` to exist at boot).
var resurrectTemplate = template.Must(template.New("resurrect").Parse(`[Unit]
Description=clusterd: the apps saved by {{.User}} (clusterd save)
After=network.target

[Service]
Type=notify
NotifyAccess=main
{{if .NonRoot}}User={{.User}}
{{end}}Environment=CLUSTERD_HOME={{.StateDir}}
{{if .RuntimeDir}}Environment=XDG_RUNTIME_DIR={{.RuntimeDir}}
{{end}}ExecStart={{.ExecStart}}
ExecReload={{.ExecReload}} --pid $MAINPID
WorkingDirectory={{.StateDir}}
{{if not .NonRoot}}RuntimeDirectory=clusterd
RuntimeDirectoryPreserve=restart
{{end}}KillMode=mixed
TimeoutStopSec={{.StopTimeout}}
Restart=on-failure

[Install]
WantedBy=multi-user.target
`))

// Resurrect renders the unit that brings back the saved apps of user at
// boot: self is the clusterd binary, stateDir the user's state directory,
// runtimeDir the XDG_RUNTIME_DIR the user's commands use ("" for none),
// killTimeout the longest of the saved apps'. Its name is
// clusterd-USER.service, as PM2's is pm2-USER.service.
func Resurrect(self, user string, root bool, stateDir, runtimeDir string, killTimeout time.Duration) (unit, unitName string, err error) {
	var b strings.Builder
	err = resurrectTemplate.Execute(&b, map[string]any{
		"User":        user,
		"NonRoot":     !root,
		"StateDir":    stateDir,
		"RuntimeDir":  runtimeDir,
		"ExecStart":   quoteArgs([]string{self, "resurrect", "--no-daemon"}),
		"ExecReload":  quoteArgs([]string{self, "reload", "--all"}),
		"StopTimeout": fmt.Sprint(int((killTimeout + 10*time.Second).Seconds())),
	})
	return b.String(), "clusterd-" + user + ".service", err
}
