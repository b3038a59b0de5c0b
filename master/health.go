package master

import (
	"context"
	"fmt"
	"time"

	"github.com/clusterd/clusterd/health"
	"github.com/clusterd/clusterd/reload"
)

// Per-worker HTTP health checks with a shared socket (issue 7). The master
// cannot address one worker through the socket they share, so with
// --health-check each worker also gets a private unix listening socket,
// passed as one more fd named "health" in LISTEN_FDNAMES. A worker that
// serves every fd it is given (the demo, the worker package) answers the
// probes there without a code change. N failed probes in a row replace the
// worker by a rolling restart, successor first.

// scheduleProbe arms the next probe of p: often while it starts (so
// --ready-on-health is quick), every --health-interval once ready.
func (m *Master) scheduleProbe(p *proc) {
	delay := m.cfg.HealthInterval
	if p.state == starting {
		delay = min(delay, 100*time.Millisecond)
	}
	m.after(delay, func() {
		if p.reaped || p.state == stopping {
			return
		}
		socket, path, timeout := p.link.Health.Address, m.cfg.HealthCheck, m.cfg.HealthTimeout
		go func() {
			err := health.Probe(socket, path, timeout)
			m.post(func() { m.onProbe(p, err) })
		}()
	})
}

func (m *Master) onProbe(p *proc, err error) {
	if p.reaped || p.state == stopping {
		return
	}
	defer m.scheduleProbe(p)
	if err == nil {
		p.healthFailures = 0
		if p.state == starting && m.cfg.ReadyOnHealth {
			m.markReady(p, "health check passed")
		}
		return
	}
	if p.state != ready {
		return // not serving yet: a starting worker is judged by its start
	}
	p.healthFailures++
	m.log.Warn("health check failed", "slot", p.slot, "pid", p.pid, "failures", p.healthFailures,
		"of", m.cfg.HealthFailures, "err", err)
	if s := m.slotOf(p); s != nil && s.worker == p && p.healthFailures >= m.cfg.HealthFailures {
		m.replaceSlot(s, p, "health", fmt.Sprintf("%d health checks failed in a row, the last: %v", p.healthFailures, err))
	}
}

// replaceSlot replaces one slot's worker by a rolling restart (the reload
// policy for a single slot, off the loop): the successor is ready before
// the old worker drains. A reload in progress replaces it anyway.
func (m *Master) replaceSlot(s *slot, p *proc, reason, detail string) {
	if m.reload != nil || s.replacing {
		return
	}
	s.replacing = true
	s.replacements[reason]++
	m.restartCounts[reason]++
	m.log.Warn("replacing a worker, successor first", "slot", s.index, "pid", p.pid, "reason", reason, "detail", detail)
	view := clusterView{m, s.cmd}
	go func() {
		err := reload.Rolling(context.Background(), view, []int{s.index}, m.reloadOptions())
		m.post(func() {
			s.replacing = false
			if err != nil {
				m.log.Error("replacing a worker failed; it keeps serving", "slot", s.index, "reason", reason, "err", err)
			}
		})
	}()
}
