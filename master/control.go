package master

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/internal/version"
	"github.com/clusterd/clusterd/logcapture"
)

// controlApp answers the control socket's requests (control.Answer). It
// runs on the connection's goroutine and reaches the master's state only
// through the event loop.
type controlApp struct{ m *Master }

func (a controlApp) Status() (st control.Status, err error) {
	if !a.m.call(func() { st = a.m.status() }) {
		return st, ErrStopped
	}
	return st, nil
}

func (a controlApp) Scale(arg string) (st control.Status, err error) {
	err = ErrStopped
	a.m.call(func() {
		var target int
		if target, err = control.ParseScale(arg, len(a.m.slots)); err == nil {
			err = a.m.scaleTo(target)
		}
		st = a.m.status()
	})
	return st, err
}

func (a controlApp) Reload() error {
	return a.m.await(a.m.requestReload, errors.New("the master stopped during the reload"))
}

func (a controlApp) ReloadAll() error {
	return a.m.await(a.m.host.ReloadAll, errors.New("the master stopped during the reload"))
}

func (a controlApp) Upgrade() error {
	return a.m.await(a.m.host.Upgrade, errors.New("the master stopped during the upgrade"))
}

func (a controlApp) ReopenLogs() error { return a.m.logs.Reopen("clusterd reopen-logs") }

func (a controlApp) Stop() {
	a.m.post(func() { a.m.beginStop("clusterd stop") })
	<-a.m.done
}

func (a controlApp) Logs() *logcapture.Ring { return a.m.logs.Ring() }
func (a controlApp) Done() <-chan struct{}  { return a.m.done }

// await starts a long operation on the event loop (a reload, an upgrade)
// and waits for its outcome, however long it takes; stopped is the answer
// should the master stop first.
func (m *Master) await(start func(reply func(error)), stopped error) error {
	result := make(chan error, 1)
	m.post(func() { start(func(err error) { result <- err }) })
	select {
	case err := <-result:
		return err
	case <-m.done:
		return stopped
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
	st.SocketModes = m.sockets[0].Modes()
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
		case slices.Contains(m.startQueue, s):
			w.State, w.Message = "starting", fmt.Sprintf("waiting: at most %d workers start at once", m.maxStarting)
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
