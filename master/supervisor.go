package master

import (
	"fmt"
	"time"
)

// What the process tells its own supervisor (systemd with Type=notify or
// notify-reload) about this app goes through the host, which holds the
// notify socket for every app of the process.

// updateSupervisorStatus refreshes STATUS= after a worker came or went.
func (m *Master) updateSupervisorStatus() {
	m.host.TellSupervisor(m.supervisorStatus())
}

// supervisorStatus is the STATUS= line `systemctl status` shows.
func (m *Master) supervisorStatus() string {
	readyCount := 0
	for _, s := range m.slots {
		if s.worker != nil && s.worker.state == ready {
			readyCount++
		}
	}
	status := fmt.Sprintf("STATUS=%d of %d workers ready, generation %d", readyCount, len(m.slots), m.generation)
	if m.cfg.Name != "default" {
		// The apps of a config file share the one STATUS line: say whose.
		status = fmt.Sprintf("STATUS=%s: %d of %d workers ready, generation %d", m.cfg.Name, readyCount, len(m.slots), m.generation)
	}
	if m.reload != nil {
		status += ", reloading"
	}
	return status
}

// onAllReady runs the first time every slot has a ready worker: the app is
// then ready, and the process once every app is.
func (m *Master) onAllReady() {
	m.log.Info("all workers ready", "instances", len(m.slots), "after", m.clock.Now().Sub(m.startedAt).Round(time.Millisecond))
	// The control socket's path is ours now (after an upgrade, it was the
	// old master's until here).
	m.control.Own()
	m.host.AppReady(m, m.supervisorStatus())
}

// Ping answers once the loop has run it: a loop that does not answer
// within timeout is hung, which the process's watchdog and /healthz report.
func (m *Master) Ping(timeout time.Duration) bool {
	answered := make(chan struct{})
	go m.post(func() { close(answered) }) // a full queue must not hold the caller
	select {
	case <-answered:
		return true
	case <-time.After(timeout):
		return false
	}
}
