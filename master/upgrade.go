package master

import (
	"errors"

	"github.com/clusterd/clusterd/listener"
)

// An upgrade replaces the whole process with the binary on disk (the
// process package runs it with tableflip). An app's part: hand its sockets
// and its control socket to the new process, serve on until the new
// process is ready, then retire its workers gracefully and leave the
// sockets' paths to the new master. Should the new process fail, the app
// serves on as if nothing had happened, and its control socket stays where
// it is (the new one never removes a path it was handed before it is ready).

// PrepareUpgrade hands the app's sockets to offer (see
// listener.AppHandoff.Offer). An app that is stopping or reloading refuses.
func (m *Master) PrepareUpgrade(offer func(name string, fd int) error) error {
	err := ErrStopped
	m.call(func() { err = m.prepareUpgrade(offer) })
	return err
}

func (m *Master) prepareUpgrade(offer func(name string, fd int) error) error {
	switch {
	case m.stopping:
		return ErrStopping
	case m.reload != nil:
		return errors.New("a reload is in progress: upgrade when it has finished")
	}
	h := listener.AppHandoff{Sockets: m.sockets, Control: m.control.Listener(), NodeSockets: m.nodeSockets.Set()}
	if err := h.Offer(offer); err != nil {
		return err
	}
	m.upgrading = true
	return nil
}

// FinishUpgrade tells the app how the upgrade it prepared for ended: nil
// means the new process is ready, and this app retires.
func (m *Master) FinishUpgrade(err error) {
	m.call(func() { m.finishUpgrade(err) })
}

func (m *Master) finishUpgrade(err error) {
	m.upgrading = false
	if err != nil {
		m.log.Error("upgrade failed: the old master and its workers keep serving", "err", err)
		if why := m.stopAfterUpgrade; why != "" {
			m.beginStop(why)
		}
		return
	}
	m.log.Info("upgrade succeeded: the new master's workers are ready; retiring this master's workers")
	// The control socket belongs to the new master now: stop answering on
	// it, and leave its path in place.
	m.upgraded = true
	m.control.HandOver()
	m.beginStop("upgraded to a new master")
}
