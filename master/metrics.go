package master

import "time"

// An app's figures for --metrics (the process serves the endpoint and owns
// the Prometheus side). They come from a snapshot the event loop hands
// over; reading /proc for each worker happens on the scrape's goroutine,
// never on the loop.

// Figures are an app's counts at one moment.
type Figures struct {
	Instances int
	ByState   map[string]int // workers by state
	Restarts  map[string]int // workers replaced, by why
	Reloads   map[string]int // rolling reloads, by outcome
	Workers   []WorkerRef
	// NotifyRejected counts notify messages from strangers.
	NotifyRejected int
}

// WorkerRef names a live worker.
type WorkerRef struct{ Slot, PID int }

// ReadyWorkers is how many of the app's workers are ready; ok is false when
// its loop did not answer within timeout (what /healthz reports).
func (m *Master) ReadyWorkers(timeout time.Duration) (ready int, ok bool) {
	snap, ok := m.FiguresWithin(timeout)
	return snap.ByState["ready"], ok
}

// SetMetricsAddress says where the process serves this app's metrics, for
// status. Call it before Run.
func (m *Master) SetMetricsAddress(addr string) { m.metricsAddress = addr }

func (m *Master) figures() Figures {
	snap := Figures{Instances: len(m.slots), NotifyRejected: m.notifyRejected, ByState: map[string]int{}, Restarts: map[string]int{}, Reloads: map[string]int{}}
	for _, w := range m.status().Workers {
		snap.ByState[w.State]++
		if w.PID != 0 {
			snap.Workers = append(snap.Workers, WorkerRef{w.Slot, w.PID})
		}
	}
	for k, v := range m.restartCounts {
		snap.Restarts[k] = v
	}
	for k, v := range m.reloadCounts {
		snap.Reloads[k] = v
	}
	return snap
}

// FiguresWithin asks the loop for the app's figures, giving up after
// timeout: a loop that does not answer is what /healthz reports.
func (m *Master) FiguresWithin(timeout time.Duration) (Figures, bool) {
	result := make(chan Figures, 1)
	if !m.post(func() { result <- m.figures() }) {
		return Figures{}, false
	}
	select {
	case snap := <-result:
		return snap, true
	case <-time.After(timeout):
		return Figures{}, false
	}
}
