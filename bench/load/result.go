package load

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Failure kinds, the keys of Result.Failed. A request fails at most once, with the kind of
// the first thing that went wrong.
const (
	FailConnect     = "connect"      // dialling the server failed (refused, no socket file)
	FailWrite       = "write"        // writing the request failed
	FailRead        = "read"         // the connection was reset or closed before a full response
	FailTimeout     = "timeout"      // no full response within Options.Timeout
	FailProtocol    = "protocol"     // the response is not HTTP/1.x as this parser reads it
	FailStatus5xx   = "status_5xx"   // a complete response with status 500-599
	FailStatusOther = "status_other" // a complete final response that is neither 2xx nor 5xx
)

// kind indexes per-worker counters; kindNames gives the Result.Failed key of each.
type kind int

const (
	kindConnect kind = iota
	kindWrite
	kindRead
	kindTimeout
	kindProtocol
	kindStatus5xx
	kindStatusOther
	numKinds
)

var kindNames = [numKinds]string{FailConnect, FailWrite, FailRead, FailTimeout, FailProtocol,
	FailStatus5xx, FailStatusOther}

// Result accounts for every request a run issued: Issued == Answered + FailedTotal() +
// Unanswered.
type Result struct {
	Issued int64 `json:"issued"`
	// Answered requests got a complete 2xx response.
	Answered int64 `json:"answered"`
	// Failed counts failed requests by kind (FailConnect, FailRead, ...); only kinds that
	// occurred are present.
	Failed map[string]int64 `json:"failed"`
	// FirstError holds, for each kind in Failed, the first error seen, to say why.
	FirstError map[string]string `json:"first_error,omitempty"`
	// Unanswered requests were in flight when ctx was cancelled; whether the server would
	// have answered is unknown, so they are neither answered nor failed.
	Unanswered int64 `json:"unanswered"`
	// ByWorker counts answered requests per X-Worker-Pid response header value; answers
	// without that header are not counted here.
	ByWorker map[string]int64 `json:"by_worker"`
	// ConnsByWorker counts connections per X-Worker-Pid of the answer to the first request
	// sent on each: which worker the connection was accepted by, as far as the client can
	// tell. A connection whose first request was not answered (2xx) is not counted.
	ConnsByWorker map[string]int64 `json:"conns_by_worker"`
	// ServerClosed counts complete responses after which the server closed the connection
	// (Connection: close, or HTTP/1.0 without keep-alive). That is normal during a drain and
	// not a failure; without KeepAlive it is normally every response.
	ServerClosed int64 `json:"server_closed"`
	// Latency of answered requests, from the start of the request (including any dial) to
	// the last byte of its response. Under Rate a request's start is its scheduled time, so
	// time spent waiting behind slow requests counts (no coordinated omission).
	Latency Histogram `json:"latency"`
	// Started is when the run started; Samples' Start are offsets from it.
	Started time.Time `json:"started"`
	// Elapsed runs from the start until the last request ended.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Samples holds one entry per issued request when Options.Samples is set, in no
	// particular order. It is left out of the JSON form.
	Samples []Sample `json:"-"`
}

// Sample is what a run keeps of one request when Options.Samples is set.
type Sample struct {
	// Start is when the request started (its scheduled time under Rate), from Result.Started.
	Start time.Duration
	// Took runs from Start until the request ended: answered, failed or cut.
	Took time.Duration
	// NewConn is set when the request dialled its own connection.
	NewConn bool
	// Outcome is "" for an answered request, a failure kind (FailConnect, FailRead, ...) or
	// OutcomeUnanswered.
	Outcome string
}

// OutcomeUnanswered is the Sample.Outcome of a request cut when the context was done.
const OutcomeUnanswered = "unanswered"

// FailedTotal is the number of failed requests of all kinds.
func (r Result) FailedTotal() int64 {
	var n int64
	for _, v := range r.Failed {
		n += v
	}
	return n
}

// String is a one-line summary, e.g.
//
//	issued 2000 answered 1998 failed 2 (read 2) unanswered 0 server-closed 3 | 41210 req/s in 48ms | latency p50 84µs p99 410µs max 2.1ms | by worker 4101:1000 4102:998
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "issued %d answered %d failed %d", r.Issued, r.Answered, r.FailedTotal())
	if len(r.Failed) > 0 {
		b.WriteString(" (")
		for i, k := range slices.Sorted(maps.Keys(r.Failed)) {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s %d", k, r.Failed[k])
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " unanswered %d server-closed %d", r.Unanswered, r.ServerClosed)
	if r.Elapsed > 0 {
		fmt.Fprintf(&b, " | %.0f req/s in %v", float64(r.Answered)/r.Elapsed.Seconds(),
			r.Elapsed.Round(time.Millisecond))
	}
	if r.Latency.Count() > 0 {
		fmt.Fprintf(&b, " | latency p50 %v p99 %v max %v", roundDuration(r.Latency.Percentile(50)),
			roundDuration(r.Latency.Percentile(99)), roundDuration(r.Latency.Max()))
	}
	if len(r.ByWorker) > 0 {
		b.WriteString(" | by worker")
		for _, pid := range slices.Sorted(maps.Keys(r.ByWorker)) {
			fmt.Fprintf(&b, " %s:%d", pid, r.ByWorker[pid])
		}
	}
	return b.String()
}

// roundDuration keeps three significant digits or so: 84µs, 410µs, 2.1ms.
func roundDuration(d time.Duration) time.Duration {
	for unit := time.Nanosecond; unit < time.Second; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Millisecond)
}

// tally is one worker's share of a Result, kept without atomics and merged once at the end.
type tally struct {
	issued, answered, unanswered, serverClosed int64
	failed                                     [numKinds]int64
	firstError                                 [numKinds]string
	byWorker                                   map[string]*int64 // pointer: counting does not allocate
	connsByWorker                              map[string]*int64
	samples                                    []Sample
	latency                                    Histogram
}

func (t *tally) fail(k kind, err error) {
	if t.failed[k] == 0 && err != nil {
		t.firstError[k] = err.Error()
	}
	t.failed[k]++
}

// answeredBy counts an answer from the worker with this X-Worker-Pid (may be empty), and
// the connection too when this was its first request.
func (t *tally) answeredBy(pid []byte, firstOnConn bool) {
	if len(pid) == 0 {
		return
	}
	count(t.byWorker, pid)
	if firstOnConn {
		count(t.connsByWorker, pid)
	}
}

func count(m map[string]*int64, pid []byte) {
	if n, ok := m[string(pid)]; ok {
		*n++
		return
	}
	n := int64(1)
	m[string(pid)] = &n
}

func (r *Result) add(t *tally) {
	r.Issued += t.issued
	r.Answered += t.answered
	r.Unanswered += t.unanswered
	r.ServerClosed += t.serverClosed
	for k, n := range t.failed {
		if n == 0 {
			continue
		}
		name := kindNames[k]
		if r.Failed[name] == 0 && t.firstError[k] != "" {
			r.FirstError[name] = t.firstError[k]
		}
		r.Failed[name] += n
	}
	for pid, n := range t.byWorker {
		r.ByWorker[pid] += *n
	}
	for pid, n := range t.connsByWorker {
		r.ConnsByWorker[pid] += *n
	}
	r.Samples = append(r.Samples, t.samples...)
	r.Latency.Merge(&t.latency)
}
