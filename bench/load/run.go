package load

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Run sends requests as o says until Duration has passed, MaxRequests were issued or ctx is
// done, and accounts for each one. Requests in flight when Duration passes may finish;
// those in flight when ctx is done are cut and counted Unanswered. The error is only for
// invalid Options: failed requests are counted in the Result, never retried.
func Run(ctx context.Context, o Options) (Result, error) {
	p, err := o.plan()
	if err != nil {
		return Result{}, err
	}
	if p.duration == 0 && p.maxRequests == 0 && ctx.Done() == nil && p.stop == nil {
		return Result{}, errors.New("load: nothing would end this run: " +
			"set Duration or MaxRequests, or pass a context that gets cancelled")
	}

	r := &runner{plan: p, start: time.Now()}
	if p.duration > 0 {
		r.end = r.start.Add(p.duration)
	}
	workers := make([]*worker, p.concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{runner: r, br: bufio.NewReader(nil)}
		w.dialer.KeepAlive = -1 // TCP keep-alive probes are for idle connections; ours never idle
		w.byWorker = map[string]*int64{}
		w.connsByWorker = map[string]*int64{}
		workers[i] = w
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()

	res := Result{Started: r.start, Elapsed: time.Since(r.start), Failed: map[string]int64{},
		FirstError: map[string]string{}, ByWorker: map[string]int64{}, ConnsByWorker: map[string]int64{}}
	for _, w := range workers {
		res.add(&w.tally)
	}
	return res, nil
}

// runner is what the workers of one run share.
type runner struct {
	plan
	start, end time.Time // end is zero without a Duration
	// tickets numbers requests across workers when MaxRequests or Rate need a total;
	// otherwise workers share nothing while they run.
	tickets atomic.Int64
}

// worker drives one connection at a time, one request at a time, and counts into its own
// tally.
type worker struct {
	*runner
	dialer net.Dialer
	conn   net.Conn
	// stopAbort unregisters the context.AfterFunc that aborts conn's I/O when ctx is done.
	stopAbort func() bool
	// br is reset onto each new connection, so its buffer is allocated once per worker. A
	// request needs no bufio.Writer: it is prebuilt and goes out in one Write.
	br    *bufio.Reader
	resp  response
	timer *time.Timer // for Rate
	tally
}

func (w *worker) run(ctx context.Context) {
	defer w.hangUp()
	for {
		start, ok := w.next(ctx)
		if !ok {
			return
		}
		w.issued++
		if !w.keepSamples {
			w.do(ctx, start)
			continue
		}
		newConn := w.conn == nil
		answered, failed, unanswered := w.answered, w.tally.failed, w.unanswered
		w.do(ctx, start)
		smp := Sample{Start: start.Sub(w.start), Took: time.Since(start), NewConn: newConn}
		switch {
		case w.answered > answered:
		case w.unanswered > unanswered:
			smp.Outcome = OutcomeUnanswered
		default:
			for k := range w.tally.failed {
				if w.tally.failed[k] > failed[k] {
					smp.Outcome = kindNames[k]
				}
			}
		}
		w.samples = append(w.samples, smp)
	}
}

// next waits for this worker's turn and returns the start time of its next request, or false
// when the run is over.
func (w *worker) next(ctx context.Context) (time.Time, bool) {
	if w.maxRequests > 0 || w.interval > 0 {
		n := w.tickets.Add(1) // overshoots MaxRequests by at most Concurrency: harmless
		if w.maxRequests > 0 && n > w.maxRequests {
			return time.Time{}, false
		}
		if w.interval > 0 {
			due := w.start.Add(time.Duration(n-1) * w.interval)
			if w.ended(due) || !w.sleepUntil(ctx, due) {
				return time.Time{}, false
			}
		}
	}
	now := time.Now()
	if ctx.Err() != nil || w.ended(now) || w.stopped() {
		return time.Time{}, false
	}
	return now, true
}

func (w *worker) ended(t time.Time) bool { return !w.end.IsZero() && !t.Before(w.end) }

// stopped reports whether Options.Stop was closed.
func (w *worker) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// sleepUntil is false if ctx was done first. Pacing is by absolute due times, so a late
// wake-up or a slow response is made up by the requests after it: Rate caps the average.
func (w *worker) sleepUntil(ctx context.Context, due time.Time) bool {
	wait := time.Until(due)
	if wait <= 0 {
		return true
	}
	if w.timer == nil {
		w.timer = time.NewTimer(wait)
	} else {
		w.timer.Reset(wait)
	}
	select {
	case <-w.timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// do sends one issued request and accounts for it exactly once: answered, failed or
// unanswered. It never retries.
func (w *worker) do(ctx context.Context, start time.Time) {
	deadline := start.Add(w.timeout)
	firstOnConn := w.conn == nil
	if w.conn == nil {
		if err := w.dial(ctx, deadline); err != nil {
			w.failed(ctx, kindConnect, err)
			return
		}
	} else {
		w.conn.SetDeadline(deadline)
	}
	// If ctx was cancelled since next looked, the abort may already have fired and the
	// deadline just set would have undone it.
	if ctx.Err() != nil {
		w.hangUp()
		w.unanswered++
		return
	}
	if _, err := w.conn.Write(w.request); err != nil {
		w.hangUp()
		w.failed(ctx, kindWrite, err)
		return
	}
	if err := readResponse(w.br, &w.resp); err != nil {
		w.hangUp()
		w.failed(ctx, kindRead, err)
		return
	}
	if w.resp.close {
		w.serverClosed++
	}
	if w.resp.close || !w.keepAlive {
		w.hangUp()
	}
	switch status := w.resp.status; {
	case 200 <= status && status < 300:
		w.answered++
		if w.progress != nil {
			w.progress.Add(1)
		}
		w.latency.Record(time.Since(start))
		w.answeredBy(w.resp.worker, firstOnConn)
	case 500 <= status && status < 600:
		w.fail(kindStatus5xx, statusError(status))
	default:
		w.fail(kindStatusOther, statusError(status))
	}
}

// failed accounts for a request that ended with err in the phase k names (connect, write or
// read). Once ctx is done, a timeout or cancellation is the abort that ctx caused, so the
// request was cut, not failed.
func (w *worker) failed(ctx context.Context, k kind, err error) {
	var netErr net.Error
	timedOut := errors.As(err, &netErr) && netErr.Timeout()
	var malformed protocolError
	switch {
	case ctx.Err() != nil && (timedOut || errors.Is(err, context.Canceled)):
		w.unanswered++
	case timedOut:
		w.fail(kindTimeout, err)
	case errors.As(err, &malformed):
		w.fail(kindProtocol, err)
	default:
		w.fail(k, err)
	}
}

// aLongTimeAgo is a deadline that makes pending and future I/O fail at once.
var aLongTimeAgo = time.Unix(1, 0)

func (w *worker) dial(ctx context.Context, deadline time.Time) error {
	w.dialer.Deadline = deadline
	conn, err := w.dialer.DialContext(ctx, w.network, w.address)
	if err != nil {
		return err
	}
	conn.SetDeadline(deadline)
	w.conn = conn
	w.stopAbort = context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	w.br.Reset(conn)
	return nil
}

func (w *worker) hangUp() {
	if w.conn == nil {
		return
	}
	w.stopAbort()
	w.conn.Close()
	w.conn = nil
}

// statusError explains a status failure in Result.FirstError.
type statusError int

func (s statusError) Error() string { return "status " + strconv.Itoa(int(s)) }
