package master

import (
	"errors"
	"fmt"

	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/listener"
)

// scaleTo adds slots (their workers start at once, running the newest
// release) or removes the last ones (their workers drain gracefully, as
// in a stop). A reload replaces the slots there are when it starts, so the
// two never interleave: scaling waits for no reload, it is refused.
func (m *Master) scaleTo(target int) error {
	switch {
	case m.stopping:
		return ErrStopping
	case m.reload != nil:
		return errors.New("a reload is in progress: scale again when it has finished")
	case m.upgrading:
		return errors.New("an upgrade of the master is in progress: scale the new master once it has finished")
	case target < 1 || target > config.MaxInstances:
		return fmt.Errorf("want 1 to %d instances, not %d", config.MaxInstances, target)
	}
	from := len(m.slots)
	for len(m.slots) < target {
		sockets, err := m.sockets.Grow()
		if err != nil {
			return fmt.Errorf("scale up to %d: %w (now %d instances)", target, err, len(m.slots))
		}
		m.sockets = sockets
		s := newSlot(len(m.slots), m.current)
		m.slots = append(m.slots, s)
		m.startWorker(s)
	}
	for len(m.slots) > target {
		s := m.slots[len(m.slots)-1]
		s.retrySeq++ // no restart for a slot that is going away
		m.slots = m.slots[:len(m.slots)-1]
		var own listener.Set
		m.sockets, own = m.sockets.Shrink()
		m.steer() // off before its worker stops
		m.retire(s.worker, own)
	}
	m.steer()
	if from != target {
		m.log.Info("scaled", "from", from, "to", target)
		m.updateSupervisorStatus()
	}
	return nil
}

// slotOf is p's slot, or nil when scaling down removed it.
func (m *Master) slotOf(p *proc) *slot {
	if p.slot < len(m.slots) {
		return m.slots[p.slot]
	}
	return nil
}
