package master

import (
	"strconv"
	"time"

	"github.com/clusterd/clusterd/control"
	"github.com/prometheus/client_golang/prometheus"
)

// An app's figures for --metrics (the process serves the endpoint). Figures
// about workers come from a snapshot the event loop hands over; reading
// /proc for each worker happens on the scrape's goroutine, never on the
// loop.

var (
	descWorkers   = prometheus.NewDesc("clusterd_workers", "Workers by state.", []string{"state"}, nil)
	descInstances = prometheus.NewDesc("clusterd_instances", "Worker slots.", nil, nil)
	descRestarts  = prometheus.NewDesc("clusterd_worker_restarts_total", "Workers replaced, by why: crash (after ready), failed_start, watchdog, memory, health.", []string{"reason"}, nil)
	descReloads   = prometheus.NewDesc("clusterd_reloads_total", "Rolling reloads by outcome.", []string{"outcome"}, nil)
	descRejected  = prometheus.NewDesc("clusterd_notify_rejected_total", "Notify messages ignored because their sender was not the worker nor a process it started.", nil, nil)
	descWorkerRSS = prometheus.NewDesc("clusterd_worker_resident_memory_bytes", "Resident memory of each worker process.", []string{"slot", "pid"}, nil)
	descWorkerCPU = prometheus.NewDesc("clusterd_worker_cpu_seconds_total", "CPU time of each worker process.", []string{"slot", "pid"}, nil)
)

func newReloadDuration() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "clusterd_reload_duration_seconds",
		Help:    "How long rolling reloads took, successful or not.",
		Buckets: prometheus.ExponentialBuckets(0.25, 2, 10),
	})
}

// Collectors are the app's figures for the process's metrics endpoint;
// the process labels them with the app's name.
func (m *Master) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.reloadDuration, clusterCollector{m}}
}

// ReadyWorkers is how many of the app's workers are ready; ok is false when
// its loop did not answer within timeout (what /healthz reports).
func (m *Master) ReadyWorkers(timeout time.Duration) (ready int, ok bool) {
	snap, ok := m.snapshotWithin(timeout)
	return snap.byState["ready"], ok
}

// SetMetricsAddress says where the process serves this app's metrics, for
// status. Call it before Run.
func (m *Master) SetMetricsAddress(addr string) { m.metricsAddress = addr }

// metricsSnapshot is what a scrape needs from the event loop.
type metricsSnapshot struct {
	instances int
	byState   map[string]int
	restarts  map[string]int
	reloads   map[string]int
	workers   []workerRef
	// notifyRejected counts notify messages from strangers.
	notifyRejected int
}

type workerRef struct{ slot, pid int }

func (m *Master) metricsSnapshot() metricsSnapshot {
	snap := metricsSnapshot{instances: len(m.slots), notifyRejected: m.notifyRejected, byState: map[string]int{}, restarts: map[string]int{}, reloads: map[string]int{}}
	for _, w := range m.status().Workers {
		snap.byState[w.State]++
		if w.PID != 0 {
			snap.workers = append(snap.workers, workerRef{w.Slot, w.PID})
		}
	}
	for k, v := range m.restartCounts {
		snap.restarts[k] = v
	}
	for k, v := range m.reloadCounts {
		snap.reloads[k] = v
	}
	return snap
}

// snapshotWithin asks the loop for a snapshot, giving up after timeout: a
// loop that does not answer is what /healthz reports.
func (m *Master) snapshotWithin(timeout time.Duration) (metricsSnapshot, bool) {
	result := make(chan metricsSnapshot, 1)
	if !m.post(func() { result <- m.metricsSnapshot() }) {
		return metricsSnapshot{}, false
	}
	select {
	case snap := <-result:
		return snap, true
	case <-time.After(timeout):
		return metricsSnapshot{}, false
	}
}

type clusterCollector struct{ m *Master }

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkers, descInstances, descRestarts, descReloads, descRejected, descWorkerRSS, descWorkerCPU} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	snap, ok := c.m.snapshotWithin(5 * time.Second)
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(snap.instances))
	for _, state := range []string{"starting", "ready", "stopping", "restarting", "errored", "stopped"} {
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(snap.byState[state]), state)
	}
	for _, reason := range []string{"crash", "failed_start", "watchdog", "memory", "health"} {
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(snap.restarts[reason]), reason)
	}
	for _, outcome := range []string{"succeeded", "aborted"} {
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(snap.reloads[outcome]), outcome)
	}
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(snap.notifyRejected))
	for _, w := range snap.workers {
		cpu, rss, ok := control.ProcessUsage(w.pid)
		if !ok {
			continue
		}
		slot, pid := strconv.Itoa(w.slot), strconv.Itoa(w.pid)
		ch <- prometheus.MustNewConstMetric(descWorkerRSS, prometheus.GaugeValue, float64(rss), slot, pid)
		ch <- prometheus.MustNewConstMetric(descWorkerCPU, prometheus.CounterValue, cpu, slot, pid)
	}
}
