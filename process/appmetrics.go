package process

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/master"
)

// An app's figures as Prometheus metrics. The master counts; the process,
// which serves the endpoint, turns the counts into metrics at each scrape.
// Every app's series carry app="NAME", so that the apps sharing an endpoint
// each keep theirs.

// reloadDuration is one app's histogram of rolling reload durations, in a
// set of its own: the endpoint writes each attached app's set.
type reloadDuration struct {
	set *metrics.Set
	h   *metrics.PrometheusHistogram
}

const reloadDurationName = "clusterd_reload_duration_seconds"

func newReloadDuration(app string) reloadDuration {
	s := metrics.NewSet()
	name := reloadDurationName + "{" + label("app", app) + "}"
	return reloadDuration{set: s, h: s.NewPrometheusHistogramExt(name, metrics.ExponentialBuckets(0.25, 2, 10))}
}

func (r reloadDuration) observe(d time.Duration) { r.h.Update(d.Seconds()) }

// family is one metric family of the apps' figures. Its samples are
// gathered over every app before it is written, since the text format wants
// a family's lines together under one HELP and one TYPE.
type family struct {
	name, typ, help string
	samples         bytes.Buffer
}

func (f *family) add(labels string, v float64) {
	fmt.Fprintf(&f.samples, "%s{%s} %s\n", f.name, labels, strconv.FormatFloat(v, 'g', -1, 64))
}

// write writes nothing for a family without samples, as client_golang did.
func (f *family) write(w io.Writer) {
	if f.samples.Len() == 0 {
		return
	}
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
	w.Write(f.samples.Bytes())
}

var labelValue = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func label(name, value string) string { return name + `="` + labelValue.Replace(value) + `"` }

// writeAppMetrics writes the clusterd_* families of apps (sorted by name).
func writeAppMetrics(w io.Writer, apps []attachedApp) {
	instances := &family{name: "clusterd_instances", typ: "gauge", help: "Worker slots."}
	rejected := &family{name: "clusterd_notify_rejected_total", typ: "counter", help: "Notify messages ignored because their sender was not the worker nor a process it started."}
	reloadTimes := &family{name: reloadDurationName, typ: "histogram", help: "How long rolling reloads took, successful or not."}
	reloads := &family{name: "clusterd_reloads_total", typ: "counter", help: "Rolling reloads by outcome."}
	workerCPU := &family{name: "clusterd_worker_cpu_seconds_total", typ: "counter", help: "CPU time of each worker process."}
	workerRSS := &family{name: "clusterd_worker_resident_memory_bytes", typ: "gauge", help: "Resident memory of each worker process."}
	restarts := &family{name: "clusterd_worker_restarts_total", typ: "counter", help: "Workers replaced, by why: crash (after ready), failed_start, watchdog, memory, health."}
	workers := &family{name: "clusterd_workers", typ: "gauge", help: "Workers by state."}

	for _, a := range apps {
		writeSamples(&reloadTimes.samples, a.reloads.set)
		snap, ok := a.m.FiguresWithin(5 * time.Second)
		if !ok {
			continue
		}
		app := label("app", a.m.Name())
		instances.add(app, float64(snap.Instances))
		byState := workersByState(snap.Status)
		for _, state := range []string{"errored", "ready", "restarting", "starting", "stopped", "stopping"} {
			workers.add(app+","+label("state", state), float64(byState[state]))
		}
		for _, reason := range []string{"crash", "failed_start", "health", "memory", "watchdog"} {
			restarts.add(app+","+label("reason", reason), float64(snap.Restarts[reason]))
		}
		for _, outcome := range []string{"aborted", "succeeded"} {
			reloads.add(app+","+label("outcome", outcome), float64(snap.Reloads[outcome]))
		}
		rejected.add(app, float64(snap.NotifyRejected))
		// In client_golang's order: by label value, the pid as text.
		live := slices.DeleteFunc(slices.Clone(snap.Status.Workers), func(w control.WorkerStatus) bool {
			return w.PID == 0 // not forked yet, or waiting for a restart
		})
		slices.SortFunc(live, func(x, y control.WorkerStatus) int {
			return strings.Compare(strconv.Itoa(x.PID), strconv.Itoa(y.PID))
		})
		for _, wr := range live {
			cpu, rss, ok := control.ProcessUsage(wr.PID)
			if !ok {
				continue
			}
			labels := app + "," + label("pid", strconv.Itoa(wr.PID)) + "," + label("slot", strconv.Itoa(wr.Slot))
			workerRSS.add(labels, float64(rss))
			workerCPU.add(labels, cpu)
		}
	}
	for _, f := range []*family{instances, rejected, reloadTimes, reloads, workerCPU, workerRSS, restarts, workers} {
		f.write(w)
	}
}

// writeSamples writes the sample lines of s without the library's HELP and
// TYPE lines (its HELP is empty; the family's own are written once).
func writeSamples(w io.Writer, s *metrics.Set) {
	var b bytes.Buffer
	s.WritePrometheus(&b)
	lines := bufio.NewScanner(&b)
	for lines.Scan() {
		if line := lines.Bytes(); len(line) > 0 && line[0] != '#' {
			w.Write(line)
			io.WriteString(w, "\n")
		}
	}
}

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
