package logcapture

import (
	"sync"
	"sync/atomic"
	"time"
)

// LogLine is one line a worker wrote, as the master captured it.
type LogLine struct {
	Time   time.Time `json:"time"`
	App    string    `json:"app"`
	Slot   int       `json:"slot"`
	PID    int       `json:"pid"`
	Stream string    `json:"stream"` // "out" or "err"
	Line   string    `json:"line"`
}

// LogMessage is one message of a `clusterd logs` stream: a line, or a note
// that this follower fell behind and Dropped lines were left out before the
// next line.
type LogMessage struct {
	Line    *LogLine `json:"line,omitempty"`
	Dropped int      `json:"dropped,omitempty"`
}

// Ring keeps the last lines of every worker for `clusterd logs`, and
// hands new lines to followers. Worker output readers add to it directly:
// it is not state of the event loop, so log traffic never queues there. A
// line is added in constant time and never waits for a follower: a
// follower that reads too slowly loses lines and is told how many.
type Ring struct {
	mu        sync.Mutex
	lines     []LogLine // circular: n lines from start
	start, n  int
	bytes     int // approximate memory held by the lines
	maxBytes  int
	followers map[*Follower]struct{}
}

// Follower receives the lines added after it started following.
type Follower struct {
	ch      chan LogMessage
	dropped int // lines that did not fit in ch since the last delivery; under ring.mu
	// pending is what the lines waiting in ch cost: a follower that does
	// not read holds at most followerMaxBytes, however long its lines.
	pending atomic.Int64
}

// followerMaxBytes bounds the lines waiting for one follower.
const followerMaxBytes = 4 << 20

func newRing(maxLines, maxBytes int) *Ring {
	return &Ring{
		lines:     make([]LogLine, maxLines),
		maxBytes:  maxBytes,
		followers: make(map[*Follower]struct{}),
	}
}

// lineBytes estimates what a stored line costs, so that a burst of long lines
// cannot make the ring hold maxLines megabyte lines.
func lineBytes(l *LogLine) int { return len(l.Line) + len(l.App) + 96 }

func (r *Ring) add(l LogLine) {
	size := lineBytes(&l)
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && (r.n == len(r.lines) || r.bytes+size > r.maxBytes) {
		r.bytes -= lineBytes(&r.lines[r.start])
		r.lines[r.start] = LogLine{}
		r.start = (r.start + 1) % len(r.lines)
		r.n--
	}
	r.lines[(r.start+r.n)%len(r.lines)] = l
	r.n++
	r.bytes += size
	for f := range r.followers {
		if f.pending.Load()+int64(size) > followerMaxBytes {
			f.dropped++
			continue
		}
		select {
		case f.ch <- LogMessage{Line: &l, Dropped: f.dropped}:
			f.dropped = 0
			f.pending.Add(int64(size))
		default:
			f.dropped++
		}
	}
}

// last returns up to n of the newest lines, oldest first.
func (r *Ring) Last(n int) []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastLocked(n)
}

func (r *Ring) lastLocked(n int) []LogLine {
	n = max(0, min(n, r.n))
	out := make([]LogLine, n)
	for i := range n {
		out[i] = r.lines[(r.start+r.n-n+i)%len(r.lines)]
	}
	return out
}

// follow returns the newest n lines and a follower that receives every line
// added after them, with no gap and no repeat between the two. buffer is how
// many lines may wait for the follower before it loses some.
func (r *Ring) Follow(n, buffer int) ([]LogLine, *Follower) {
	f := &Follower{ch: make(chan LogMessage, buffer)}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.followers[f] = struct{}{}
	return r.lastLocked(n), f
}

func (r *Ring) Unfollow(f *Follower) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.followers, f)
}

// Messages delivers the lines added after the follower started; call
// Consumed with each once it is written out.
func (f *Follower) Messages() <-chan LogMessage { return f.ch }

// Consumed frees what msg held of the follower's byte budget.
func (f *Follower) Consumed(msg LogMessage) {
	if msg.Line != nil {
		f.pending.Add(-int64(lineBytes(msg.Line)))
	}
}
