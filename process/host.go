package process

import (
	"syscall"
	"time"

	"github.com/clusterd/clusterd/launch"
	"github.com/clusterd/clusterd/master"
)

// appHost is the process as each app's master sees it (master.Host).
type appHost struct {
	p              *Process
	reloadDuration reloadDuration
}

func (h appHost) StartWorker(f launch.Fork, exited func(master.Exit)) (int, error) {
	return h.p.children.start(f, exited)
}

func (h appHost) SignalWorker(pid int, sig syscall.Signal) error {
	return h.p.children.signal(pid, sig)
}

func (h appHost) Running(pid int) bool { return h.p.children.running(pid) }

func (h appHost) WorkerID() uint64 { return h.p.workerIDs.Add(1) }

func (h appHost) ForkDelay() time.Duration { return h.p.forkLimit.Reserve().Delay() }

func (h appHost) AppReady(m *master.Master, status string) {
	go h.p.post(func() { h.p.appReady(m, status) })
}

func (h appHost) TellSupervisor(state string) { h.p.notifier.tell(state) }

func (h appHost) ReloadTook(d time.Duration) { h.reloadDuration.observe(d) }

func (h appHost) Upgrade(reply func(error)) { go h.p.post(func() { h.p.upgrade(reply) }) }

func (h appHost) ReloadAll(reply func(error)) { go h.p.post(func() { h.p.reloadAll(reply) }) }
