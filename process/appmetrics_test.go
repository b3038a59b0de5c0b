package process

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsExposition: the reload histograms of two apps, with the
// library's go_* and process_* families, parse as Prometheus text (one
// HELP and TYPE per family, as Prometheus wants), with the buckets and
// labels client_golang wrote.
func TestMetricsExposition(t *testing.T) {
	metrics.ExposeMetadata(true)
	web, api := newReloadDuration("web"), newReloadDuration(`a"p\i`)
	web.observe(700 * time.Millisecond)
	web.observe(3 * time.Second)
	api.observe(200 * time.Second)
	reloadTimes := &family{name: reloadDurationName, typ: "histogram", help: "How long rolling reloads took, successful or not."}
	writeSamples(&reloadTimes.samples, api.set)
	writeSamples(&reloadTimes.samples, web.set)
	var b bytes.Buffer
	reloadTimes.write(&b)
	(&family{name: "clusterd_instances", typ: "gauge", help: "Worker slots."}).write(&b) // no samples: no lines
	metrics.WriteProcessMetrics(&b)
	metrics.WriteFDMetrics(&b)

	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("does not parse: %v\n%s", err, b.String())
	}
	if strings.Contains(b.String(), "clusterd_instances") {
		t.Error("a family without samples was written")
	}
	h := families[reloadDurationName]
	if h.GetType() != dto.MetricType_HISTOGRAM || h.GetHelp() != "How long rolling reloads took, successful or not." || len(h.GetMetric()) != 2 {
		t.Fatalf("%s: %v", reloadDurationName, h)
	}
	byApp := map[string]*dto.Histogram{}
	for _, m := range h.GetMetric() {
		if l := m.GetLabel(); len(l) == 1 && l[0].GetName() == "app" {
			byApp[l[0].GetValue()] = m.GetHistogram()
		}
	}
	w, a := byApp["web"], byApp[`a"p\i`]
	if w == nil || a == nil {
		t.Fatalf("apps %v, want web and a\"p\\i", byApp)
	}
	var bounds []float64
	var counts []uint64
	for _, bk := range w.GetBucket() {
		bounds, counts = append(bounds, bk.GetUpperBound()), append(counts, bk.GetCumulativeCount())
	}
	wantBounds := []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128} // ExponentialBuckets(0.25, 2, 10)
	wantCounts := []uint64{0, 0, 1, 1, 2, 2, 2, 2, 2, 2}
	if len(bounds) < len(wantBounds) {
		t.Fatalf("buckets %v", bounds)
	}
	for i := range wantBounds {
		if bounds[i] != wantBounds[i] || counts[i] != wantCounts[i] {
			t.Fatalf("buckets %v counts %v, want %v and %v", bounds, counts, wantBounds, wantCounts)
		}
	}
	if w.GetSampleCount() != 2 || w.GetSampleSum() != 3.7 || a.GetSampleCount() != 1 {
		t.Errorf("web count %d sum %v, api count %d", w.GetSampleCount(), w.GetSampleSum(), a.GetSampleCount())
	}
	for _, name := range []string{"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
		"process_start_time_seconds", "process_virtual_memory_bytes", "go_goroutines", "go_threads", "go_info", "go_gc_duration_seconds", "go_memstats_alloc_bytes"} {
		if families[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
	if got := families["process_resident_memory_bytes"].GetType(); got != dto.MetricType_GAUGE {
		t.Errorf("process_resident_memory_bytes is a %v", got)
	}
}
