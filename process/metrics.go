package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clusterd/clusterd/master"
)

// --metrics serves Prometheus metrics with the official client library,
// plus /healthz (every app's event loop answers) and /readyz (every app has
// a ready worker) for load balancers and Kubernetes probes. The apps of a
// process that name the same address share one endpoint, each app's figures
// labelled with its name. Its socket goes through tableflip, so an upgrade
// hands it to the new process instead of failing to bind it again.
type metricsEndpoint struct {
	addr string
	ln   net.Listener
	srv  *http.Server
	reg  *prometheus.Registry

	mu   sync.Mutex // the handlers read apps from the server's goroutines
	apps []*master.Master
}

// attachMetrics adds a's figures to the endpoint at addr, opening it if no
// app of the process has yet. It runs on the process's loop.
func (p *Process) attachMetrics(addr string, a *app) (*metricsEndpoint, error) {
	m := a.m
	e := p.metrics[addr]
	if e == nil {
		var err error
		if e, err = p.listenMetrics(addr); err != nil {
			return nil, err
		}
		p.metrics[addr] = e
	}
	labelled := prometheus.WrapRegistererWith(prometheus.Labels{"app": m.Name()}, e.reg)
	for _, c := range appCollectors(a) {
		if err := labelled.Register(c); err != nil {
			return nil, fmt.Errorf("--metrics %s: app %s: %w", addr, m.Name(), err)
		}
	}
	e.mu.Lock()
	e.apps = append(e.apps, m)
	e.mu.Unlock()
	return e, nil
}

// detachMetrics removes a's figures, and closes the endpoint when no app
// uses it any more.
func (p *Process) detachMetrics(a *app) {
	e := a.metrics
	if e == nil {
		return
	}
	a.metrics = nil
	labelled := prometheus.WrapRegistererWith(prometheus.Labels{"app": a.m.Name()}, e.reg)
	for _, c := range appCollectors(a) {
		labelled.Unregister(c)
	}
	e.mu.Lock()
	e.apps = slices.DeleteFunc(e.apps, func(o *master.Master) bool { return o == a.m })
	left := len(e.apps)
	e.mu.Unlock()
	if left > 0 {
		return
	}
	delete(p.metrics, e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	e.srv.Shutdown(ctx)
	e.ln.Close()
}

func (p *Process) listenMetrics(addr string) (*metricsEndpoint, error) {
	var ln net.Listener
	var err error
	if p.upgrader != nil {
		// An old process's, when this process is its upgrade.
		if ln, err = p.upgrader.Fds.Listener("tcp", addr); err != nil {
			return nil, fmt.Errorf("--metrics %s: %w", addr, err)
		}
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("--metrics %s: %w", addr, unwrapListenError(err))
		}
		if p.upgrader != nil {
			if err := p.upgrader.Fds.AddListener("tcp", addr, ln.(*net.TCPListener)); err != nil {
				ln.Close()
				return nil, fmt.Errorf("--metrics %s: %w", addr, err)
			}
		}
	}
	e := &metricsEndpoint{addr: addr, ln: ln, reg: prometheus.NewRegistry()}
	e.reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), // the master's own RSS, CPU, fds
		collectors.NewGoCollector(),
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", e.healthz)
	mux.HandleFunc("/readyz", e.readyz)
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go e.srv.Serve(ln)
	return e, nil
}

func (e *metricsEndpoint) address() string { return e.ln.Addr().String() }

func unwrapListenError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func (e *metricsEndpoint) attached() []*master.Master {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.apps)
}

// healthz: every app's event loop answers.
func (e *metricsEndpoint) healthz(w http.ResponseWriter, _ *http.Request) {
	for _, m := range e.attached() {
		if _, ok := readyWorkers(m, 2*time.Second); !ok {
			http.Error(w, m.Name()+": the master's event loop does not answer", http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

// readyz: every app has a ready worker.
func (e *metricsEndpoint) readyz(w http.ResponseWriter, _ *http.Request) {
	apps := e.attached()
	if len(apps) == 0 {
		http.Error(w, "no app runs yet", http.StatusServiceUnavailable)
		return
	}
	var ready []string
	for _, m := range apps {
		n, ok := readyWorkers(m, 2*time.Second)
		if !ok || n == 0 {
			http.Error(w, m.Name()+": no ready worker", http.StatusServiceUnavailable)
			return
		}
		ready = append(ready, fmt.Sprintf("%s %d", m.Name(), n))
	}
	fmt.Fprintf(w, "ok: ready workers: %s\n", strings.Join(ready, ", "))
}
