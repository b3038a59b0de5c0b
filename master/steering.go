package master

import (
	"time"

	"github.com/clusterd/clusterd/listener"
)

// Steering new connections between slots (docs/design.md §10). Where each
// slot has its own socket of a steered SO_REUSEPORT group, a slot is on
// only while a ready worker serves it and nothing is replacing that
// worker: the moment its worker dies, or a reload or a replacement starts
// its successor, new connections go to the other slots, and the slot takes
// its share again once its successor is ready. With a shared socket this
// is a no-op.

// steer re-attaches the steering program when which slots are on changed.
// Call it wherever a worker's readiness, death or replacement changes.
func (m *Master) steer() {
	if len(m.sockets) != len(m.slots) {
		return // a scale in progress calls again when done
	}
	if err := m.sockets.Steer(m.slotsOn()); err != nil && !m.steerFailed {
		m.steerFailed = true // once: it would repeat on every event
		m.log.Error("steering new connections failed: the kernel's hash spreads them, over slots without a worker too", "err", err)
	}
}

// slotsOn says which slots take new connections.
func (m *Master) slotsOn() []bool {
	replaced := map[int]bool{}
	for _, p := range m.procs {
		if p.successor && !p.reaped {
			replaced[p.slot] = true
		}
	}
	for p := range m.forking {
		if p.successor {
			replaced[p.slot] = true
		}
	}
	on := make([]bool, len(m.slots))
	for i, s := range m.slots {
		w := s.worker
		on[i] = w != nil && w.state == ready && !w.leaderGone && !s.replacing && !replaced[i]
	}
	return on
}

// queueDrainLimit bounds how long a scale-down waits for a removed slot's
// accept queue to empty before stopping its worker.
const queueDrainLimit = 2 * time.Second

// retire stops the worker of a slot that a scale-down removed. own are the
// sockets only that slot had, already steered off: its worker first
// empties their accept queues (at most queueDrainLimit), then drains as in
// a stop, and they are closed once it has exited, when nothing can be
// queued on them any more. Closing them earlier would reset what waits in
// their queues unless net.ipv4.tcp_migrate_req=1 moves it.
func (m *Master) retire(p *proc, own listener.Set) {
	steered := len(own) > 0 && own[0].Mode() == listener.Steered
	if len(own) > 0 && !steered {
		if !listener.MigratesQueued() {
			m.log.Warn("scaling down unsteered reuseport sockets closes the slot's socket: connections waiting in its queue are reset unless net.ipv4.tcp_migrate_req=1",
				"slot", len(m.slots))
		}
	}
	if p == nil || p.exited || !steered {
		if p != nil {
			m.stopProc(p, "scaled down")
		}
		if p != nil && p.pid == 0 {
			p.closeOnExit = own // its fork, still on its way, hands them over
			return
		}
		own.Close() // the worker's copy, if any, keeps the socket until it exits
		return
	}
	deadline := m.clock.Now().Add(queueDrainLimit)
	var poll func()
	poll = func() {
		queued, err := own.Queued()
		if err == nil && queued > 0 && m.clock.Now().Before(deadline) && p.state == ready && !p.reaped {
			m.after(10*time.Millisecond, poll)
			return
		}
		if queued > 0 {
			m.log.Warn("scale down: the removed slot's queue did not empty in time", "slot", p.slot, "queued", queued, "err", err)
		}
		m.stopProc(p, "scaled down")
		if p.exited {
			own.Close()
		} else {
			p.closeOnExit = own
		}
	}
	poll()
}
