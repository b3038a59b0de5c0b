package master

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/launch"
	"github.com/clusterd/clusterd/notify"
	"github.com/clusterd/clusterd/reload"
)

// reloadRun is the reload in progress.
type reloadRun struct {
	cmd     *launch.Command
	started time.Time
	cancel  context.CancelFunc // nil until the rolling replacement starts
	// next is the configuration the reload installs: the running one, or
	// what Reconfigure gave.
	next       config.Config
	notApplied []string
	waiters    []func(error) // nil entries are reloads asked for by signal
}

// Reload runs a rolling reload and waits for its outcome, as a control
// request does; for code that holds the Master (several apps in one
// process).
func (m *Master) Reload() error { return m.await(m.requestReload, ErrStopped) }

// ErrStopping answers a reload asked of a master that is stopping.
var ErrStopping = errors.New("the master is stopping")

// requestReload starts a rolling reload, or queues one behind the reload in
// progress. reply, if not nil, receives the outcome.
func (m *Master) requestReload(reply func(error)) {
	if m.stopping || m.upgrading {
		why := ErrStopping
		if m.upgrading {
			why = errors.New("an upgrade of the master is in progress: reload the new master once it has finished")
		}
		m.log.Warn("reload refused", "why", why)
		if reply != nil {
			reply(why)
		}
		return
	}
	if m.reload != nil {
		m.queued = append(m.queued, reply)
		m.queuedAny = true
		m.log.Info("reload queued behind the one in progress")
		return
	}
	m.beginReload([]func(error){reply})
}

func (m *Master) beginReload(waiters []func(error)) {
	m.generation++
	r := &reloadRun{started: time.Now(), waiters: waiters, next: m.cfg}
	m.reload = r
	reconfigure := m.cfg.Reconfigure
	if reconfigure == nil {
		m.startRolling(r)
		return
	}
	// Re-reading the configuration is file I/O: off the loop. The reload
	// is in progress meanwhile, so other reloads queue and scaling waits.
	go func() {
		next, err := reconfigure()
		if err == nil {
			err = next.Validate()
		}
		m.post(func() {
			if err != nil {
				m.finishReload(r, fmt.Errorf("%w: %w", reload.ErrAborted, err))
				return
			}
			r.next, r.notApplied = m.reconfigure(next)
			m.startRolling(r)
		})
	}()
}

// startRolling resolves the reload's release and replaces the workers with
// it, slot by slot.
func (m *Master) startRolling(r *reloadRun) {
	if m.stopping {
		m.finishReload(r, fmt.Errorf("%w: the master is stopping", reload.ErrAborted))
		return
	}
	cmd, err := launch.Resolve(r.next.Command, r.next.Dir, m.generation)
	if err != nil {
		m.finishReload(r, fmt.Errorf("%w: %w", reload.ErrAborted, err))
		return
	}
	cmd.Env = m.template.ReleaseEnv(r.next.Env, m.Addresses())
	r.cmd = cmd
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	slots := make([]int, len(m.slots))
	for i := range slots {
		slots[i] = i
	}
	m.log.Info("rolling reload started", "generation", cmd.Generation, "command", cmd.Path, "slots", len(slots))
	m.host.TellSupervisor(notify.ReloadingMessage() + "\n" + m.supervisorStatus())
	go func() {
		err := reload.Rolling(ctx, clusterView{m, cmd}, slots, m.reloadOptions())
		cancel()
		m.post(func() { m.finishReload(r, err) })
	}()
}

func (m *Master) finishReload(r *reloadRun, err error) {
	m.reload = nil
	out := control.ReloadOutcome{Generation: m.generation, StartedAt: r.started, Duration: control.Duration(time.Since(r.started)), NotApplied: r.notApplied}
	if err == nil {
		m.current = r.cmd
		m.cfg.Command, m.cfg.Dir, m.cfg.Env, m.cfg.WorkerEnv = r.next.Command, r.next.Dir, r.next.Env, r.next.WorkerEnv
		// A new instance count in the configuration applies; an unchanged
		// one leaves what clusterd scale set since.
		if n := r.next.Instances; m.cfg.Reconfigure != nil && n != m.configuredInstances {
			m.configuredInstances = n
			if err := m.scaleTo(n); err != nil {
				m.log.Error("instances not changed", "instances", n, "err", err)
			}
		}
		out.Outcome = "succeeded"
		m.log.Info("rolling reload succeeded", "generation", out.Generation, "took", time.Duration(out.Duration).Round(time.Millisecond))
	} else {
		out.Outcome, out.Reason = "aborted", err.Error()
		m.log.Error("rolling reload aborted: old workers keep serving", "generation", out.Generation, "reason", err)
	}
	m.lastReload = &out
	m.reloadCounts[out.Outcome]++
	m.host.ReloadTook(time.Duration(out.Duration))
	if r.cmd != nil { // RELOADING=1 was sent: the supervisor waits for READY=1
		m.host.TellSupervisor("READY=1\n" + m.supervisorStatus())
	}
	for _, reply := range r.waiters {
		if reply != nil {
			reply(err)
		}
	}
	if !m.queuedAny {
		return
	}
	waiters := m.queued
	m.queued, m.queuedAny = nil, false
	if m.stopping {
		for _, reply := range waiters {
			if reply != nil {
				reply(errors.New("the master stopped before the queued reload could run"))
			}
		}
		return
	}
	m.beginReload(waiters)
}

// clusterView is the reload goroutine's handle on the master: each method
// is a request to the event loop.
type clusterView struct {
	m   *Master
	cmd *launch.Command
}

func (c clusterView) Start(slot int) (reload.Candidate, error) {
	var p *proc
	err := ErrStopped
	c.m.call(func() {
		if c.m.stopping {
			err = ErrStopping
			return
		}
		p, err = c.m.spawn(slot, c.cmd, true)
	})
	if err != nil {
		return nil, err
	}
	select { // the fork happens off the loop
	case <-p.forked:
	case <-c.m.done:
		return nil, ErrStopped
	}
	if p.forkErr != nil {
		return nil, p.forkErr
	}
	return p, nil
}

func (c clusterView) Promote(cand reload.Candidate) error {
	err := ErrStopped
	c.m.call(func() { err = c.m.promote(cand.(*proc)) })
	return err
}

func (c clusterView) Discard(cand reload.Candidate) {
	c.m.call(func() { c.m.stopProc(cand.(*proc), "reload aborted") })
}

// promote makes a reload's successor its slot's worker and retires the
// worker it replaces.
func (m *Master) promote(p *proc) error {
	if p.reaped {
		return errors.New("exited before it could take over")
	}
	if m.stopping {
		m.stopProc(p, "master stopping")
		return ErrStopping
	}
	s := m.slotOf(p)
	if s == nil {
		m.stopProc(p, "its slot was removed")
		return errors.New("its slot was removed by a scale down")
	}
	old := s.worker
	p.successor = false
	s.worker, s.cmd = p, p.cmd
	s.errored, s.stopped = false, false
	s.record.Reset()
	s.retrySeq++ // a restart pending for this slot is no longer needed
	m.steer()
	if old != nil {
		m.stopProc(old, "replaced by reload")
		m.log.Info("worker replaced", "slot", s.index, "old_pid", old.pid, "new_pid", p.pid)
	} else {
		m.log.Info("worker took over empty slot", "slot", s.index, "pid", p.pid)
	}
	return nil
}
