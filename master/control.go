package master

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"time"

	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/internal/version"
)

// handleControl answers one request. It runs on the connection's goroutine
// and reaches the master's state only through the event loop.
func (m *Master) handleControl(conn *net.UnixConn) {
	req, err := control.ReadRequest(conn, 10*time.Second)
	if err != nil {
		control.WriteResponse(conn, control.Response{Error: err.Error()})
		return
	}
	switch req.Command {
	case "status":
		var st control.Status
		if !m.call(func() { st = m.status() }) {
			control.WriteResponse(conn, control.Response{Error: ErrStopped.Error()})
			return
		}
		if req.Usage {
			control.SampleUsage(&st, control.CPUSampleWindow) // off the loop: it reads /proc and waits
		}
		control.WriteResponse(conn, control.Response{OK: true, Status: &st})
	case "reload":
		if req.Arg == "all" {
			// Every app of this process, as SIGHUP does; answered when all
			// have finished.
			m.answerWhenDone(conn, "reload", m.host.ReloadAll)
			return
		}
		m.answerWhenDone(conn, "reload", m.requestReload)
	case "scale":
		var st control.Status
		err := ErrStopped
		m.call(func() {
			var target int
			if target, err = control.ParseScale(req.Arg, len(m.slots)); err == nil {
				err = m.scaleTo(target)
			}
			st = m.status()
		})
		if err != nil {
			control.WriteResponse(conn, control.Response{Error: err.Error()})
			return
		}
		control.WriteResponse(conn, control.Response{OK: true, Status: &st})
	case "logs":
		control.ServeLogs(conn, req, m.logs.Ring(), m.done)
	case "reopen-logs":
		m.answerReopenLogs(conn)
	case "upgrade":
		m.answerWhenDone(conn, "upgrade", m.host.Upgrade)
	case "stop":
		m.post(func() { m.beginStop("clusterd stop") })
		<-m.done
		control.WriteResponse(conn, control.Response{OK: true})
	default:
		control.WriteResponse(conn, control.Response{Error: fmt.Sprintf("unknown command %q", req.Command)})
	}
}

// answerWhenDone starts a long operation on the event loop (a reload, an
// upgrade) and answers the client with its outcome, however long it takes.
func (m *Master) answerWhenDone(conn net.Conn, what string, start func(reply func(error))) {
	result := make(chan error, 1)
	m.post(func() { start(func(err error) { result <- err }) })
	select {
	case err := <-result:
		if err != nil {
			control.WriteResponse(conn, control.Response{Error: err.Error()})
			return
		}
		control.WriteResponse(conn, control.Response{OK: true})
	case <-m.done:
		control.WriteResponse(conn, control.Response{Error: "the master stopped during the " + what})
	}
}

func (m *Master) status() control.Status {
	now := m.clock.Now()
	st := control.Status{
		Name: m.cfg.Name, PID: m.pid, Version: version.Get().String(), InstancesFrom: m.cfg.InstancesFrom, Command: m.cfg.Command, Generation: m.generation,
		Instances: len(m.slots), Listeners: m.Addresses(), Metrics: m.metricsAddress, StartedAt: m.startedAt, Stopping: m.stopping,
		Reload: control.ReloadStatus{InProgress: m.reload != nil, Queued: m.queuedAny, Last: m.lastReload},
		Dir:    m.cfg.Dir, Namespace: m.cfg.Namespace,
	}
	for _, f := range []string{m.cfg.LogFile, m.cfg.OutFile, m.cfg.ErrorFile} {
		if f != "" && !slices.Contains(st.LogFiles, f) {
			st.LogFiles = append(st.LogFiles, f)
		}
	}
	for _, s := range m.sockets[0] {
		mode := string(s.Mode())
		if why := s.ModeReason(); why != "" {
			mode += ": " + why
		}
		st.SocketModes = append(st.SocketModes, mode)
	}
	for _, addr := range m.nodeSockets.Addresses() {
		st.Listeners = append(st.Listeners, addr)
		st.SocketModes = append(st.SocketModes, "shared: opened for the workers' listen()")
	}
	listed := make(map[*proc]bool, len(m.procs))
	for _, s := range m.slots {
		w := control.WorkerStatus{Slot: s.index, Generation: s.cmd.Generation, Restarts: s.restarts, LastExit: s.lastExit,
			MemoryRestarts: s.replacements["memory"], HealthRestarts: s.replacements["health"]}
		switch {
		case s.worker != nil:
			fillProc(&w, s.worker, now)
			listed[s.worker] = true
		case s.errored:
			w.State = "errored"
		case s.stopped:
			w.State = "stopped"
		default:
			w.State = "restarting"
			if s.retryAt.After(now) {
				w.RetryIn = control.Duration(s.retryAt.Sub(now).Round(time.Millisecond))
			}
		}
		st.Workers = append(st.Workers, w)
	}
	var others []control.WorkerStatus
	for _, p := range m.procs {
		if !listed[p] {
			w := control.WorkerStatus{Slot: p.slot, Generation: p.cmd.Generation}
			fillProc(&w, p, now)
			w.Successor = p.successor
			others = append(others, w)
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].PID < others[j].PID })
	st.Workers = append(st.Workers, others...)
	return st
}

func fillProc(w *control.WorkerStatus, p *proc, now time.Time) {
	w.PID, w.State, w.StartedAt, w.Message = p.pid, p.state.String(), p.startedAt, p.status
	w.Uptime = control.Duration(now.Sub(p.startedAt).Round(time.Millisecond))
}

func (m *Master) answerReopenLogs(conn net.Conn) {
	if err := m.reopenLogs("clusterd reopen-logs"); err != nil {
		control.WriteResponse(conn, control.Response{Error: err.Error()})
		return
	}
	control.WriteResponse(conn, control.Response{OK: true})
}

// reopenLogs answers SIGUSR1 and `clusterd reopen-logs`. It runs off the
// event loop: opening a file may block.
func (m *Master) reopenLogs(why string) error {
	if m.logs.Files() == 0 {
		m.log.Info(why + ": no log files to reopen")
		return nil
	}
	if err := m.logs.Reopen(); err != nil {
		m.log.Error(why+": reopening log files failed", "err", err)
		return err
	}
	m.log.Info(why+": log files reopened", "files", m.logs.Files())
	return nil
}
