package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/clusterd/clusterd/master"
)

// --metrics serves Prometheus metrics in the text format, plus /healthz
// (every app's event loop answers) and /readyz (every app has a ready
// worker) for load balancers and Kubernetes probes. It writes them with
// github.com/VictoriaMetrics/metrics rather than client_golang: a demo
// worker is this same binary, and client_golang's package inits (with
// protobuf's and client_model's) cost every worker start about 9 ms of CPU
// and 140 page faults. The apps of a process that name the same address
// share one endpoint, each app's figures labelled app="NAME". Its socket goes through tableflip, so an upgrade
// hands it to the new process instead of failing to bind it again.
type metricsEndpoint struct {
	addr string
	ln   net.Listener
	srv  *http.Server

	mu   sync.Mutex // the handlers read apps from the server's goroutines
	apps []attachedApp
}

// attachedApp is what the endpoint's handlers read of an app.
type attachedApp struct {
	m       *master.Master
	reloads reloadDuration
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
	e.mu.Lock()
	defer e.mu.Unlock()
	if slices.ContainsFunc(e.apps, func(o attachedApp) bool { return o.m.Name() == m.Name() }) {
		return nil, fmt.Errorf("--metrics %s: app %s: its metrics are served there already", addr, m.Name())
	}
	e.apps = append(e.apps, attachedApp{m: m, reloads: a.reloadDuration})
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
	e.mu.Lock()
	e.apps = slices.DeleteFunc(e.apps, func(o attachedApp) bool { return o.m == a.m })
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
	// HELP and TYPE lines for the library's go_* and process_* families too.
	metrics.ExposeMetadata(true)
	e := &metricsEndpoint{addr: addr, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", e.serveMetrics)
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

func (e *metricsEndpoint) attached() []attachedApp {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.apps)
}

// serveMetrics: the apps' figures, then the master's own go_* and process_*
// (its RSS, CPU, fds, Go runtime).
func (e *metricsEndpoint) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	apps := e.attached()
	slices.SortFunc(apps, func(x, y attachedApp) int { return strings.Compare(x.m.Name(), y.m.Name()) })
	var b bytes.Buffer
	writeAppMetrics(&b, apps)
	metrics.WriteProcessMetrics(&b)
	metrics.WriteFDMetrics(&b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b.Bytes())
}

// healthz: every app's event loop answers.
func (e *metricsEndpoint) healthz(w http.ResponseWriter, _ *http.Request) {
	for _, a := range e.attached() {
		m := a.m
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
	for _, a := range apps {
		m := a.m
		n, ok := readyWorkers(m, 2*time.Second)
		if !ok || n == 0 {
			http.Error(w, m.Name()+": no ready worker", http.StatusServiceUnavailable)
			return
		}
		ready = append(ready, fmt.Sprintf("%s %d", m.Name(), n))
	}
	fmt.Fprintf(w, "ok: ready workers: %s\n", strings.Join(ready, ", "))
}
