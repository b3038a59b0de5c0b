package process

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/master"
)

// An app's figures as Prometheus metrics. The master counts; the process,
// which serves the endpoint, turns the counts into metrics at each scrape.

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

// appCollectors are a's metrics, which the endpoint labels with its name.
func appCollectors(a *app) []prometheus.Collector {
	return []prometheus.Collector{a.reloadDuration, appCollector{a.m}}
}

type appCollector struct{ m *master.Master }

func (c appCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkers, descInstances, descRestarts, descReloads, descRejected, descWorkerRSS, descWorkerCPU} {
		ch <- d
	}
}

func (c appCollector) Collect(ch chan<- prometheus.Metric) {
	snap, ok := c.m.FiguresWithin(5 * time.Second)
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(snap.Instances))
	byState := workersByState(snap.Status)
	for _, state := range []string{"starting", "ready", "stopping", "restarting", "errored", "stopped"} {
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(byState[state]), state)
	}
	for _, reason := range []string{"crash", "failed_start", "watchdog", "memory", "health"} {
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(snap.Restarts[reason]), reason)
	}
	for _, outcome := range []string{"succeeded", "aborted"} {
		ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(snap.Reloads[outcome]), outcome)
	}
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(snap.NotifyRejected))
	for _, w := range snap.Workers {
		if w.PID == 0 {
			continue // not forked yet, or waiting for a restart
		}
		cpu, rss, ok := control.ProcessUsage(w.PID)
		if !ok {
			continue
		}
		slot, pid := strconv.Itoa(w.Slot), strconv.Itoa(w.PID)
		ch <- prometheus.MustNewConstMetric(descWorkerRSS, prometheus.GaugeValue, float64(rss), slot, pid)
		ch <- prometheus.MustNewConstMetric(descWorkerCPU, prometheus.CounterValue, cpu, slot, pid)
	}
}

// workersByState counts an app's workers by state.
func workersByState(st control.Status) map[string]int {
	by := map[string]int{}
	for _, w := range st.Workers {
		by[w.State]++
	}
	return by
}

// readyWorkers is how many of m's workers are ready; ok is false when its
// loop did not answer within timeout (what /healthz reports).
func readyWorkers(m *master.Master, timeout time.Duration) (ready int, ok bool) {
	snap, ok := m.FiguresWithin(timeout)
	return workersByState(snap.Status)["ready"], ok
}
