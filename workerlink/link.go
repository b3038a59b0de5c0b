// Package workerlink opens and closes what connects the master to one
// worker besides the app's listening sockets: the notify endpoint it
// reports readiness on, the pipes its stdout and stderr go to, its Node IPC
// channel and its private health-check socket. They are opened before the
// worker's fork, the worker's ends are closed once it has its copies, and
// the master's once the worker is gone or never started.
package workerlink

import (
	"fmt"
	"path/filepath"

	"github.com/clusterd/clusterd/launch"
	"github.com/clusterd/clusterd/listener"
	"github.com/clusterd/clusterd/logcapture"
	"github.com/clusterd/clusterd/notify"
)

// Options say what a worker's link has.
type Options struct {
	// MasterPID and ID name the worker's abstract notify socket: ID must
	// be unique in the process, not only in the app.
	MasterPID int
	ID        uint64
	// HealthDir, if set, is where the worker's private health socket is
	// made (beside the control socket, a directory only our user can
	// enter), named after App.
	HealthDir string
	App       string
	// NodeIPC gives the worker a Node IPC channel.
	NodeIPC bool
}

// Link is one worker's channels to the master.
type Link struct {
	Notify *notify.Endpoint
	// Output is handed to the log capture once the worker runs, which
	// closes it; Close does not.
	Output  *logcapture.Pipes
	Health  *listener.Socket    // nil without a health check
	NodeIPC *notify.NodeChannel // nil without a Node IPC channel
}

// Open opens a worker's link. On an error nothing of it stays open.
func Open(o Options) (l *Link, err error) {
	l = &Link{}
	defer func() {
		if err != nil {
			l.Close()
			if l.Output != nil {
				l.Output.Close()
			}
		}
	}()
	if l.Notify, err = notify.Open(o.MasterPID, o.ID); err != nil {
		return nil, err
	}
	if l.Output, err = logcapture.OpenPipes(); err != nil {
		return nil, err
	}
	if o.HealthDir != "" {
		path := filepath.Join(o.HealthDir, fmt.Sprintf("%s.health.%d.%d.sock", o.App, o.MasterPID, o.ID))
		if l.Health, err = listener.Open(listener.Spec{Name: "health", Network: "unix", Address: path}, listener.Options{}); err != nil {
			return nil, err
		}
	}
	if o.NodeIPC {
		if l.NodeIPC, err = notify.OpenNodeChannel(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Inherit has w inherit the worker's ends: stdout and stderr, the notify
// socket and pipe, the Node IPC channel, and the health socket after the
// app's sockets, named "health" in LISTEN_FDNAMES.
func (l *Link) Inherit(w *launch.Worker) {
	w.Stdio[1], w.Stdio[2] = l.Output.Stdio()
	w.NotifyAddr, w.NotifyPipe = l.Notify.Addr(), int(l.Notify.PipeFd())
	w.NodeIPC = -1
	if l.NodeIPC != nil {
		w.NodeIPC = int(l.NodeIPC.WorkerEnd())
	}
	if l.Health != nil {
		w.Sockets, w.FdNames = append(w.Sockets, l.Health.Fd()), w.FdNames+":health"
	}
}

// Forked closes the worker's ends of the notify pipe and the Node IPC
// channel once its fork is over: the worker has its copies, if any.
func (l *Link) Forked() {
	l.Notify.AfterStart()
	if l.NodeIPC != nil {
		l.NodeIPC.CloseWorkerEnd()
	}
}

// Close closes the master's ends, all but Output.
func (l *Link) Close() {
	if l.Notify != nil {
		l.Notify.Close()
	}
	if l.Health != nil {
		l.Health.Close()
	}
	if l.NodeIPC != nil {
		l.NodeIPC.Close()
	}
}
