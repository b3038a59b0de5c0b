package control

import (
	"fmt"
	"net"
	"time"

	"github.com/clusterd/clusterd/logcapture"
)

// App is what the control socket's requests ask of one app's master. Its
// methods run on the request's goroutine and may wait for the master as
// long as the operation takes.
type App interface {
	// Status is the app's status, or why there is none (the master has
	// stopped).
	Status() (Status, error)
	// Scale applies the scale request's argument (see ParseScale) and
	// returns the status after it.
	Scale(arg string) (Status, error)
	// Reload, ReloadAll (every app of the process) and Upgrade return the
	// operation's outcome once it has finished.
	Reload() error
	ReloadAll() error
	Upgrade() error
	ReopenLogs() error
	// Stop returns once the master has stopped.
	Stop()
	// Logs are the app's recent lines, to be followed until Done.
	Logs() *logcapture.Ring
	Done() <-chan struct{}
}

// Answer reads one request from conn and answers it from app.
func Answer(conn net.Conn, app App) {
	req, err := ReadRequest(conn, 10*time.Second)
	if err != nil {
		WriteResponse(conn, Response{Error: err.Error()})
		return
	}
	switch req.Command {
	case "status":
		st, err := app.Status()
		if err != nil {
			WriteResponse(conn, Response{Error: err.Error()})
			return
		}
		if req.Usage {
			SampleUsage(&st, CPUSampleWindow) // off the master's loop: it reads /proc and waits
		}
		WriteResponse(conn, Response{OK: true, Status: &st})
	case "reload":
		if req.Arg == "all" {
			// Every app of this process, as SIGHUP does; answered when all
			// have finished.
			answerOutcome(conn, app.ReloadAll())
			return
		}
		answerOutcome(conn, app.Reload())
	case "scale":
		st, err := app.Scale(req.Arg)
		if err != nil {
			WriteResponse(conn, Response{Error: err.Error()})
			return
		}
		WriteResponse(conn, Response{OK: true, Status: &st})
	case "logs":
		ServeLogs(conn, req, app.Logs(), app.Done())
	case "reopen-logs":
		answerOutcome(conn, app.ReopenLogs())
	case "upgrade":
		answerOutcome(conn, app.Upgrade())
	case "stop":
		app.Stop()
		WriteResponse(conn, Response{OK: true})
	default:
		WriteResponse(conn, Response{Error: fmt.Sprintf("unknown command %q", req.Command)})
	}
}

// answerOutcome answers a request that succeeded or failed with err.
func answerOutcome(conn net.Conn, err error) {
	if err != nil {
		WriteResponse(conn, Response{Error: err.Error()})
		return
	}
	WriteResponse(conn, Response{OK: true})
}
