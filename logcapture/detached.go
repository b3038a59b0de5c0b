package logcapture

import (
	"fmt"
	"io"
	"sync"
)

// Detached is a writer for the master's own log lines: Write never waits.
// Lines go out from a goroutine of its own; while the destination does not
// take them (a stderr pipe nobody reads), up to maxPending bytes wait, and
// what does not fit is dropped and counted in one line once writing works
// again. A loop that logs must never freeze because its stderr did.
type Detached struct {
	out        io.Writer
	maxPending int

	mu      sync.Mutex
	pending [][]byte
	bytes   int
	dropped int
	wake    chan struct{}
}

// NewDetached writes to out from a goroutine of its own.
func NewDetached(out io.Writer, maxPending int) *Detached {
	d := &Detached{out: out, maxPending: maxPending, wake: make(chan struct{}, 1)}
	go d.run()
	return d
}

// Write queues p (one log record) and returns at once.
func (d *Detached) Write(p []byte) (int, error) {
	d.mu.Lock()
	if d.bytes+len(p) > d.maxPending {
		d.dropped++
	} else {
		d.pending = append(d.pending, append([]byte(nil), p...))
		d.bytes += len(p)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (d *Detached) run() {
	for range d.wake {
		for {
			d.mu.Lock()
			batch, dropped := d.pending, d.dropped
			d.pending, d.bytes, d.dropped = nil, 0, 0
			d.mu.Unlock()
			if len(batch) == 0 && dropped == 0 {
				break
			}
			for _, line := range batch {
				d.out.Write(line)
			}
			if dropped > 0 {
				fmt.Fprintf(d.out, "clusterd: %d log lines of the master were dropped: its log output did not keep up\n", dropped)
			}
		}
	}
}
