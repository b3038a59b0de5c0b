package worker

import (
	"context"
	"sync"
	"sync/atomic"
)

// Drain counts a server's open connections so a worker told to stop can finish without
// failing a request. Shutting a server down the usual way does not do that: fasthttp's
// Shutdown, like net/http's, closes idle keep-alive connections, racing clients that have
// just sent a request on one, and those requests fail (docs/design.md §9). The drain
// that loses nothing is:
//
//  1. [Drain.Begin], so the request path, which checks [Drain.Draining], answers every
//     further request with "Connection: close";
//  2. close this process's listeners, so it accepts nothing new (the socket stays open in
//     the master and the other workers, which take the waiting connections);
//  3. [Drain.Wait] until every connection is gone, or a deadline;
//  4. only then shut the server down.
//
// The server's connection-state hook feeds the count: [Drain.Opened] when a connection is
// accepted, [Drain.Closed] when it is closed or hijacked (a hijacked connection is no
// longer the server's to drain). With net/http that is Server.ConnState with StateNew
// and StateClosed/StateHijacked; package fasthttpworker does it for fasthttp.
//
// The zero Drain is ready to use. Its methods are safe for concurrent use.
type Drain struct {
	draining atomic.Bool

	mu   sync.Mutex
	open int
	zero chan struct{} // closed and cleared when open reaches 0; nil when nobody waits
}

// Opened counts a newly accepted connection.
func (d *Drain) Opened() {
	d.mu.Lock()
	d.open++
	d.mu.Unlock()
}

// Closed counts a connection that was closed or hijacked. Every Opened must be matched
// by exactly one Closed.
func (d *Drain) Closed() {
	d.mu.Lock()
	d.open--
	if d.open < 0 {
		d.mu.Unlock()
		panic("worker: Drain.Closed called more often than Opened")
	}
	if d.open == 0 && d.zero != nil {
		close(d.zero)
		d.zero = nil
	}
	d.mu.Unlock()
}

// Open returns the number of open connections.
func (d *Drain) Open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.open
}

// Begin switches to draining; it cannot be undone.
func (d *Drain) Begin() { d.draining.Store(true) }

// Draining reports whether Begin was called: a request handled from then on should be
// answered with "Connection: close". It is one atomic load, cheap enough for every request.
func (d *Drain) Draining() bool { return d.draining.Load() }

// Wait returns nil once no connection is open, or ctx's error if ctx ends first. Call it
// after the listeners are closed and the accept loops have returned: a connection counted
// after Wait returned would not be waited for.
func (d *Drain) Wait(ctx context.Context) error {
	for {
		d.mu.Lock()
		if d.open == 0 {
			d.mu.Unlock()
			return nil
		}
		if d.zero == nil {
			d.zero = make(chan struct{})
		}
		zero := d.zero
		d.mu.Unlock()

		select {
		case <-zero:
			// Re-check: a connection may have opened since.
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
