package master

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/clusterd/clusterd/control"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// --metrics serves Prometheus metrics with the official client library,
// plus /healthz (the master's event loop answers) and /readyz (at least
// one worker is ready) for load balancers and Kubernetes probes. Figures
// about workers come from a snapshot the event loop hands over; reading
// /proc for each worker happens on the scrape's goroutine, never on the
// loop.

var (
	descWorkers   = prometheus.NewDesc("clusterd_workers", "Workers by state.", []string{"state"}, nil)
	descInstances = prometheus.NewDesc("clusterd_instances", "Worker slots.", nil, nil)
	descRestarts  = prometheus.NewDesc("clusterd_worker_restarts_total", "Workers replaced, by why: crash (after ready), failed_start, watchdog, memory, health.", []string{"reason"}, nil)
	descReloads   = prometheus.NewDesc("clusterd_reloads_total", "Rolling reloads by outcome.", []string{"outcome"}, nil)
	descWorkerRSS = prometheus.NewDesc("clusterd_worker_resident_memory_bytes", "Resident memory of each worker process.", []string{"slot", "pid"}, nil)
	descWorkerCPU = prometheus.NewDesc("clusterd_worker_cpu_seconds_total", "CPU time of each worker process.", []string{"slot", "pid"}, nil)
)

// metricsServer is a --metrics endpoint. The masters of one process (the
// apps of a config file) that name the same address share it: each app's
// figures carry an app label, and /readyz wants a ready worker in every
// app. Its socket comes from tableflip, so an upgrade hands it to the new
// process instead of failing to bind it again.
type metricsServer struct {
	addr string
	ln   net.Listener
	srv  *http.Server
	reg  *prometheus.Registry

	mu      sync.Mutex
	masters []*Master // attached: running, in the order they started
	users   int       // masters created with it, running or not yet
}

// metricsServers are this process's endpoints, by address.
var metricsServers = struct {
	sync.Mutex
	byAddr map[string]*metricsServer
}{byAddr: map[string]*metricsServer{}}

// listenMetrics binds the endpoint at addr, or returns the one a master
// of this process already has there; done releases it.
func listenMetrics(addr string, upgrader *tableflip.Upgrader) (s *metricsServer, err error) {
	metricsServers.Lock()
	defer metricsServers.Unlock()
	if s := metricsServers.byAddr[addr]; s != nil {
		s.users++
		return s, nil
	}
	var ln net.Listener
	if upgrader != nil {
		// An old master's, when this process is its upgrade.
		if ln, err = upgrader.Fds.Listener("tcp", addr); err != nil {
			return nil, fmt.Errorf("--metrics %s: %w", addr, err)
		}
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("--metrics %s: %w", addr, unwrapListenError(err))
		}
		if upgrader != nil {
			if err := upgrader.Fds.AddListener("tcp", addr, ln.(*net.TCPListener)); err != nil {
				ln.Close()
				return nil, fmt.Errorf("--metrics %s: %w", addr, err)
			}
		}
	}
	s = &metricsServer{addr: addr, ln: ln, reg: prometheus.NewRegistry(), users: 1}
	s.reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), // the master's own RSS, CPU, fds
		collectors.NewGoCollector(),
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/readyz", s.readyz)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	metricsServers.byAddr[addr] = s
	return s, nil
}

func newReloadDuration() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "clusterd_reload_duration_seconds",
		Help:    "How long rolling reloads took, successful or not.",
		Buckets: prometheus.ExponentialBuckets(0.25, 2, 10),
	})
}

func unwrapListenError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// attach adds m's figures, labelled with its app, while m runs.
func (s *metricsServer) attach(m *Master) {
	labelled := prometheus.WrapRegistererWith(prometheus.Labels{"app": m.cfg.Name}, s.reg)
	labelled.MustRegister(m.reloadDuration, clusterCollector{m})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.masters = append(s.masters, m)
}

// detach removes m's figures, and closes the endpoint when no master of
// the process uses it any more.
func (s *metricsServer) detach(m *Master) {
	labelled := prometheus.WrapRegistererWith(prometheus.Labels{"app": m.cfg.Name}, s.reg)
	labelled.Unregister(m.reloadDuration)
	labelled.Unregister(clusterCollector{m})
	s.mu.Lock()
	s.masters = slices.DeleteFunc(s.masters, func(o *Master) bool { return o == m })
	s.mu.Unlock()
	s.release()
}

// release gives up one master's use of the endpoint: the last one closes
// it.
func (s *metricsServer) release() {
	metricsServers.Lock()
	defer metricsServers.Unlock()
	if s.users--; s.users > 0 {
		return
	}
	delete(metricsServers.byAddr, s.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	s.ln.Close()
}

func (s *metricsServer) attached() []*Master {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.masters)
}

// healthz: every app's event loop answers.
func (s *metricsServer) healthz(w http.ResponseWriter, _ *http.Request) {
	for _, m := range s.attached() {
		if _, ok := m.snapshotWithin(2 * time.Second); !ok {
			http.Error(w, m.cfg.Name+": the master's event loop does not answer", http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

// readyz: every app has a ready worker.
func (s *metricsServer) readyz(w http.ResponseWriter, _ *http.Request) {
	masters := s.attached()
	if len(masters) == 0 {
		http.Error(w, "no app runs yet", http.StatusServiceUnavailable)
		return
	}
	var ready []string
	for _, m := range masters {
		snap, ok := m.snapshotWithin(2 * time.Second)
		if !ok || snap.byState["ready"] == 0 {
			http.Error(w, m.cfg.Name+": no ready worker", http.StatusServiceUnavailable)
			return
		}
		ready = append(ready, fmt.Sprintf("%s %d", m.cfg.Name, snap.byState["ready"]))
	}
	fmt.Fprintf(w, "ok: ready workers: %s\n", strings.Join(ready, ", "))
}

// metricsSnapshot is what a scrape needs from the event loop.
type metricsSnapshot struct {
	instances int
	byState   map[string]int
	restarts  map[string]int
	reloads   map[string]int
	workers   []workerRef
}

type workerRef struct{ slot, pid int }

func (m *Master) metricsSnapshot() metricsSnapshot {
	snap := metricsSnapshot{instances: len(m.slots), byState: map[string]int{}, restarts: map[string]int{}, reloads: map[string]int{}}
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
	for _, d := range []*prometheus.Desc{descWorkers, descInstances, descRestarts, descReloads, descWorkerRSS, descWorkerCPU} {
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

func (m *Master) metricsAddress() string {
	if m.metrics == nil {
		return ""
	}
	return m.metrics.ln.Addr().String()
}
