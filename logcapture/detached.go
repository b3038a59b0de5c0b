package logcapture

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Detached is a writer for the master's own log lines that never holds its
// caller for long. Lines go out from a goroutine of its own, and a Write
// waits for its line to be written for at most stallAfter: so lines appear
// in order and at once while the destination takes them, and a test or an
// operator reading right after an event finds its line. Once a write has
// taken longer (a stderr pipe nobody reads), Write stops waiting until the
// queue has drained; up to maxPending bytes wait meanwhile, and what does not
// fit is dropped and counted in one line once writing works again. A loop
// that logs must never freeze because its stderr did.
type Detached struct {
	out        io.Writer
	maxPending int

	mu      sync.Mutex
	pending []pendingLine
	bytes   int
	dropped int
	stalled bool
	wake    chan struct{}
}

type pendingLine struct {
	b       []byte
	written chan struct{}
}

// stallAfter is how long a Write waits for its line before the writer
// counts as stalled.
const stallAfter = 20 * time.Millisecond

// NewDetached writes to out from a goroutine of its own.
func NewDetached(out io.Writer, maxPending int) *Detached {
	d := &Detached{out: out, maxPending: maxPending, wake: make(chan struct{}, 1)}
	go d.run()
	return d
}

// Write queues p (one log record) and returns once it is written, or at
// once while the destination is stalled.
func (d *Detached) Write(p []byte) (int, error) {
	line := pendingLine{b: append([]byte(nil), p...), written: make(chan struct{})}
	d.mu.Lock()
	stalled := d.stalled
	if d.bytes+len(p) > d.maxPending {
		d.dropped++
		d.mu.Unlock()
		return len(p), nil
	}
	d.pending = append(d.pending, line)
	d.bytes += len(p)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	if stalled {
		return len(p), nil
	}
	select {
	case <-line.written:
	case <-time.After(stallAfter):
		d.mu.Lock()
		d.stalled = true
		d.mu.Unlock()
	}
	return len(p), nil
}

func (d *Detached) run() {
	for range d.wake {
		for {
			d.mu.Lock()
			batch, dropped := d.pending, d.dropped
			d.pending, d.bytes, d.dropped = nil, 0, 0
			if len(batch) == 0 && dropped == 0 {
				d.stalled = false // drained: writes may wait again
				d.mu.Unlock()
				break
			}
			d.mu.Unlock()
			for _, line := range batch {
				d.out.Write(line.b)
				close(line.written)
			}
			if dropped > 0 {
				fmt.Fprintf(d.out, "clusterd: %d log lines of the master were dropped: its log output did not keep up\n", dropped)
			}
		}
	}
}
