package process

import (
	"os"
	"os/signal"
	"syscall"
)

// signalRouter is the process's only subscriber to signals. SIGCHLD goes
// straight to the children, coalesced, so no flood of other signals can
// crowd an exit out; SIGPIPE is subscribed to only so that a write to a
// vanished stdout fails with EPIPE instead of killing the process and every
// worker with it; the rest go to the loop.
type signalRouter struct {
	p    *Process
	ch   chan os.Signal
	quit chan struct{}
}

// handled are the signals the process acts on.
var handled = []os.Signal{
	syscall.SIGCHLD, syscall.SIGPIPE,
	syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU,
}

func newSignalRouter(p *Process) *signalRouter {
	r := &signalRouter{p: p, ch: make(chan os.Signal, 64), quit: make(chan struct{})}
	signal.Notify(r.ch, handled...)
	return r
}

func (r *signalRouter) run() error {
	for {
		select {
		case sig := <-r.ch:
			switch sig {
			case syscall.SIGCHLD:
				r.p.children.childExited()
			case syscall.SIGPIPE:
			default:
				// Never wait on the loop here: SIGCHLD must keep flowing.
				go r.p.post(func() { r.p.onSignal(sig.(syscall.Signal)) })
			}
		case <-r.quit:
			return nil
		}
	}
}

func (r *signalRouter) stop(error) {
	signal.Stop(r.ch)
	close(r.quit)
}
