package fasthttpworker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/worker"
	"github.com/valyala/fasthttp"
)

// DefaultDrainTimeout is how long Serve waits for open connections to close after a stop
// signal when Options.DrainTimeout is 0.
const DefaultDrainTimeout = 5 * time.Second

// ErrDrainAbandoned is returned by Serve when a second stop signal arrives during the drain.
var ErrDrainAbandoned = errors.New("fasthttpworker: second stop signal, drain abandoned")

// Options configure Serve. The zero value serves the inherited sockets and fails when
// there are none.
type Options struct {
	// Listeners, if not empty, are served instead of the inherited sockets; Serve closes
	// them when it returns.
	Listeners []net.Listener
	// FallbackAddr is the TCP address to listen on when the process was not started by a
	// master (no LISTEN_FDS), for example "127.0.0.1:3000". Empty means such a start is
	// an error.
	FallbackAddr string
	// DrainTimeout bounds the wait for open connections after a stop signal; 0 means
	// DefaultDrainTimeout. Connections still open then are left to Server.Shutdown, which
	// closes idle keep-alive ones at once, one that never sent a request once it is 5 s old
	// (fasthttp server.go:2533), and waits for requests in progress to finish.
	DrainTimeout time.Duration
}

// Serve serves s on the inherited sockets (or opts.Listeners, or opts.FallbackAddr),
// reports "READY=1" once every socket is being accepted from, and on SIGTERM or SIGINT
// drains and returns nil. The drain:
//
//  1. answers every later request on connections already open with "Connection: close"
//     (set after the handler runs, so a handler cannot undo it);
//  2. reports "STOPPING=1" and closes this process's copies of the sockets: it accepts
//     nothing more, while the master and the other workers keep the sockets open and take
//     the connections waiting in their queues;
//  3. waits until no connection is open, or for opts.DrainTimeout;
//  4. calls s.Shutdown, which now finds nothing, or only what outlived the timeout.
//
// Serve sets s.Handler and s.ConnState to wrappers around the ones already there (a
// ConnState hook of the caller's still sees every change), so s must not be serving yet
// and must not be changed while Serve runs. It installs its own signal handler for the
// two signals while it runs; a second signal during the drain makes it give up and return
// ErrDrainAbandoned. If a socket fails (a permanent accept error), or the "READY=1"
// message cannot be sent, Serve drains the same way and returns that error.
//
// Serve waits for requests still running when the drain timeout ends, as Shutdown does; a
// handler that never returns keeps it waiting until the master kills the process.
func Serve(s *fasthttp.Server, opts Options) error {
	if s.Handler == nil {
		return errors.New("fasthttpworker: Server.Handler is nil")
	}
	// Catch the signals before anything can report ready: after READY=1 the master may
	// send SIGTERM at any time, and without a handler it would kill the process.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)

	listeners, err := listen(opts)
	if err != nil {
		return err
	}
	var drain worker.Drain
	hook(s, &drain)

	var accepting sync.WaitGroup
	served := make(chan error, len(listeners))
	for _, l := range listeners {
		accepting.Add(1)
		l.firstAccept = accepting.Done
		go func() { served <- s.Serve(l) }()
	}
	ready := make(chan struct{})
	go func() {
		// Every Serve reaches Accept, even one that fails at once, so this ends.
		accepting.Wait()
		close(ready)
	}()

	running := len(listeners)
	var failure error // why Serve stops, when it is not a signal
	select {
	case <-signals:
	case err := <-served:
		running--
		failure = unexpectedReturn(err)
	case <-ready:
		if err := worker.Ready(); err != nil {
			failure = err
			break
		}
		select {
		case <-signals:
		case err := <-served:
			running--
			failure = unexpectedReturn(err)
		}
	}

	err = stop(s, &drain, listeners, served, running, signals, drainTimeout(opts))
	return errors.Join(failure, err)
}

// unexpectedReturn turns an s.Serve that ended before any stop signal into Serve's error.
// It returns nil when s.Serve returned nil, which it does only when the listener was closed
// or someone called s.Shutdown: taken as a request to stop.
func unexpectedReturn(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("fasthttpworker: serve: %w", err)
}

// stop is the drain described on Serve. running is the number of s.Serve calls that have
// not returned yet; their results arrive on served.
func stop(s *fasthttp.Server, drain *worker.Drain, listeners []*listener, served <-chan error, running int, signals <-chan os.Signal, timeout time.Duration) error {
	// Begin before STOPPING=1, so whoever sees the message knows that every answer from
	// now on says "Connection: close".
	drain.Begin()
	worker.Stopping()

	// A second signal cancels everything still waiting.
	abandon, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	go func() {
		select {
		case <-signals:
			giveUp()
		case <-abandon.Done():
		}
	}()

	var errs []error
	for _, l := range listeners {
		l.Close()
	}
	// fasthttp's accept loop reports the closed listener as io.EOF and Serve returns nil
	// (fasthttp v1.78.0 server.go:2265-2269 and :2145). Once every Serve has returned,
	// each connection it accepted has been counted (StateNew is reported in the accept
	// loop itself, server.go:2150), so the count can only go down from here.
	for ; running > 0; running-- {
		if err := <-served; err != nil {
			errs = append(errs, fmt.Errorf("fasthttpworker: serve: %w", err))
		}
	}

	waitCtx, cancel := context.WithTimeout(abandon, timeout)
	drain.Wait(waitCtx) // past the timeout, what is left is Shutdown's
	cancel()

	// The listeners are closed already and Close is idempotent, so Shutdown reports no
	// error for them. With no connection left it returns at once.
	if err := s.ShutdownWithContext(abandon); err != nil {
		if abandon.Err() != nil {
			err = fmt.Errorf("%w with %d connections open", ErrDrainAbandoned, drain.Open())
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// hook wraps s.Handler and s.ConnState to feed drain and honor it.
func hook(s *fasthttp.Server, drain *worker.Drain) {
	handler := s.Handler
	s.Handler = func(ctx *fasthttp.RequestCtx) {
		handler(ctx)
		// Not on a hijacked request: fasthttp would then close the connection instead
		// of handing it over (server.go:2909-2910 and :2984 come before the hijack at :2993).
		if drain.Draining() && !ctx.Hijacked() {
			ctx.SetConnectionClose()
		}
	}
	connState := s.ConnState
	s.ConnState = func(c net.Conn, state fasthttp.ConnState) {
		// fasthttp reports StateNew for every accepted connection and ends each with
		// exactly one StateClosed or StateHijacked (server.go:2150-2157, workerpool.go:237-241).
		// The caller's hook runs before the count drops, so it has seen every closed
		// connection by the time Serve returns.
		if state == fasthttp.StateNew {
			drain.Opened()
		}
		if connState != nil {
			connState(c, state)
		}
		if state == fasthttp.StateClosed || state == fasthttp.StateHijacked {
			drain.Closed()
		}
	}
}

// listen returns what Serve serves: opts.Listeners, else the inherited sockets, else a
// new one on opts.FallbackAddr.
func listen(opts Options) ([]*listener, error) {
	lns := opts.Listeners
	if len(lns) == 0 {
		var err error
		if lns, err = worker.Listeners(); err != nil {
			return nil, err
		}
	}
	if len(lns) == 0 {
		if opts.FallbackAddr == "" {
			return nil, errors.New("fasthttpworker: no sockets: not started by a master (LISTEN_FDS) and no fallback address")
		}
		ln, err := net.Listen("tcp", opts.FallbackAddr)
		if err != nil {
			return nil, fmt.Errorf("fasthttpworker: fallback: %w", err)
		}
		lns = []net.Listener{ln}
	}
	wrapped := make([]*listener, len(lns))
	for i, ln := range lns {
		wrapped[i] = &listener{Listener: ln}
	}
	return wrapped, nil
}

func drainTimeout(opts Options) time.Duration {
	if opts.DrainTimeout > 0 {
		return opts.DrainTimeout
	}
	return DefaultDrainTimeout
}

// listener reports its first Accept (the socket is being served) and makes Close
// idempotent: Serve closes it to stop accepting, and Shutdown closes it again.
type listener struct {
	net.Listener
	firstAccept func()
	accepted    sync.Once
	closed      sync.Once
	closeErr    error
}

func (l *listener) Accept() (net.Conn, error) {
	l.accepted.Do(l.firstAccept)
	return l.Listener.Accept()
}

func (l *listener) Close() error {
	l.closed.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}
