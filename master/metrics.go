package master

import (
	"maps"
	"time"

	"github.com/clusterd/clusterd/control"
)

// An app's figures for --metrics (the process serves the endpoint and owns
// the Prometheus side). They come from a snapshot the event loop hands
// over; reading /proc for each worker happens on the scrape's goroutine,
// never on the loop.

// Figures are an app's status and counts at one moment.
type Figures struct {
	control.Status
	Restarts map[string]int // workers replaced, by why
	Reloads  map[string]int // rolling reloads, by outcome
	// NotifyRejected counts notify messages from strangers.
	NotifyRejected int
}

// SetMetricsAddress says where the process serves this app's metrics, for
// status. Call it before Run.
func (m *Master) SetMetricsAddress(addr string) { m.metricsAddress = addr }

func (m *Master) figures() Figures {
	return Figures{Status: m.status(), Restarts: maps.Clone(m.restartCounts), Reloads: maps.Clone(m.reloadCounts),
		NotifyRejected: m.notifyRejected}
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
