package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v", err)
	}
	return families
}

func counter(families map[string]*dto.MetricFamily, name, label, value string) float64 {
	for _, m := range families[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// TestMetrics: /metrics parses as Prometheus text with workers by state,
// restarts by reason, reloads by outcome, per-worker memory and CPU and
// the master's own RSS; the crash counter moves when a worker dies;
// /healthz and /readyz answer; a taken port is a one-line error.
func TestMetrics(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "2", "--wait-ready", "--metrics", "127.0.0.1:0"}, command: demoCommand(t), waitReady: true,
	})
	st := c.status()
	base := "http://" + st.Metrics
	families := scrape(t, base+"/metrics")
	for _, name := range []string{"clusterd_workers", "clusterd_worker_restarts_total", "clusterd_reloads_total",
		"clusterd_worker_resident_memory_bytes", "clusterd_worker_cpu_seconds_total", "process_resident_memory_bytes", "clusterd_reload_duration_seconds"} {
		if families[name] == nil {
			t.Errorf("metric %s is missing", name)
		}
	}
	if got := counter(families, "clusterd_workers", "state", "ready"); got != 2 {
		t.Errorf("clusterd_workers{state=ready} = %v, want 2", got)
	}
	if got := counter(families, "clusterd_worker_restarts_total", "reason", "crash"); got != 0 {
		t.Fatalf("crash restarts before any crash = %v", got)
	}
	victim := slotWorkers(st)[0].PID
	syscall.Kill(victim, syscall.SIGKILL)
	waitFor(t, 10*time.Second, "the killed worker's replacement", func() error {
		if pids, err := c.readyPIDs(); err != nil || pids[0] == victim {
			return errNotYet
		}
		return nil
	})
	if got := counter(scrape(t, base+"/metrics"), "clusterd_worker_restarts_total", "reason", "crash"); got != 1 {
		t.Errorf("crash restarts after one SIGKILL = %v, want 1", got)
	}
	if out := c.reloadBySignal(); out.Outcome != "succeeded" {
		t.Fatal(out.Reason)
	}
	if got := counter(scrape(t, base+"/metrics"), "clusterd_reloads_total", "outcome", "succeeded"); got != 1 {
		t.Errorf("succeeded reloads = %v, want 1", got)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, out := run(t, 20*time.Second, "--control", t.TempDir()+"/c.sock", "--metrics", busy.Addr().String(), "--", "/bin/true")
	if code != 1 || !strings.Contains(out, "--metrics "+busy.Addr().String()+": bind: address already in use") {
		t.Errorf("metrics port in use: exit %d, %q", code, out)
	}
}
