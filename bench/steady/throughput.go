package steady

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
	"github.com/clusterd/clusterd/bench/stats"
)

// throughput holds the turns by load name, then server label, one per round.
type throughput map[string]map[string][]turn

// turn is one server's wrk run and what its processes spent on it.
type turn struct {
	rig.WrkResult
	// ServerCPU is the CPU time of the server's processes (supervisor and workers) over
	// the run, 0 where the server has none to read.
	ServerCPU time.Duration `json:"server_cpu_ns,omitempty"`
}

// sideBySide runs every load against every server, round after round. Within a round the
// servers take turns under one load before the next load starts, and the order of turns
// rotates from round to round, so that no server always runs first or last.
func sideBySide(ctx context.Context, rg *rig.Rig, servers []rig.Server, loads []rig.WrkLoad) (throughput, error) {
	for _, l := range loads {
		for _, srv := range servers {
			if _, err := rg.RunWrk(ctx, srv.Addr(), l, rg.Prof.Warmup); err != nil {
				return nil, fmt.Errorf("warm-up of %s: %w", srv.Label(), err)
			}
		}
	}
	res := throughput{}
	for _, l := range loads {
		res[l.Name] = map[string][]turn{}
	}
	for round := range rg.Prof.Rounds {
		for _, l := range loads {
			var line []string
			for k := range servers {
				srv := servers[(k+round)%len(servers)]
				pids := serverPIDs(ctx, srv)
				before := rig.SampleAll(pids)
				r, err := rg.RunWrk(ctx, srv.Addr(), l, rg.Prof.Duration)
				if err != nil {
					return res, fmt.Errorf("%s under %s: %w", srv.Label(), l, err)
				}
				t := turn{WrkResult: r}
				if len(pids) > 0 {
					t.ServerCPU = rig.SampleAll(pids) - before
				}
				res[l.Name][srv.Label()] = append(res[l.Name][srv.Label()], t)
				line = append(line, fmt.Sprintf("%s %s", srv.Label(), stats.Kilo(r.RequestsPerSec)))
			}
			rig.Logf("  round %d/%d, %s: %s", round+1, rg.Prof.Rounds, l, strings.Join(line, ", "))
		}
	}
	return res, nil
}

// serverPIDs are the processes whose CPU time a turn counts: a supervisor's and its
// workers' (none for a server that cannot list them). A worker that starts during the
// turn is not counted: in the scenarios that read it nothing restarts.
func serverPIDs(ctx context.Context, srv rig.Server) []int {
	sup, ok := srv.(rig.Supervised)
	if !ok {
		return nil
	}
	workers, err := sup.WorkerPIDs(ctx)
	if err != nil {
		return nil
	}
	if pid := sup.SupervisorPID(); !slices.Contains(workers, pid) {
		workers = append(workers, pid)
	}
	return workers
}

// ratios of a figure of target to the same figure of base, round by round.
func (t throughput) ratios(load, target, base string, figure func(turn) float64) stats.Spread {
	a, b := t[load][target], t[load][base]
	var r []float64
	for i := range min(len(a), len(b)) {
		r = append(r, figure(a[i])/figure(b[i]))
	}
	return stats.SpreadOf(r)
}

func (t throughput) values(load, target string, figure func(turn) float64) stats.Spread {
	var v []float64
	for _, r := range t[load][target] {
		v = append(v, figure(r))
	}
	return stats.SpreadOf(v)
}

func rps(r turn) float64 { return r.RequestsPerSec }
func p99(r turn) float64 { return float64(r.P99) }

// cpuPerRequest is the server's CPU time per answered request, in microseconds.
func cpuPerRequest(r turn) float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.ServerCPU.Microseconds()) / float64(r.Requests)
}

// requestsPerCPU is the inverse of cpuPerRequest, so that a ratio of two servers reads
// like the req/s ratio beside it: above 1, the first does more with the same CPU.
func requestsPerCPU(r turn) float64 {
	if r.ServerCPU == 0 {
		return 0
	}
	return float64(r.Requests) / r.ServerCPU.Seconds()
}

// errorNotes lists every wrk error seen, per server and load.
// errorSummary is the report's sentence on what wrk counted as errors.
func (t throughput) errorSummary(loads []rig.WrkLoad) string {
	if notes := t.errorNotes(loads); len(notes) > 0 {
		return "wrk reported errors: " + strings.Join(notes, "; ") + "."
	}
	return "wrk reported no socket errors and no non-2xx responses for any target."
}

func (t throughput) errorNotes(loads []rig.WrkLoad) []string {
	var notes []string
	for _, l := range loads {
		for _, srv := range slices.Sorted(maps.Keys(t[l.Name])) {
			sum := map[string]int64{}
			for _, r := range t[l.Name][srv] {
				for k, n := range r.Errors {
					sum[k] += n
				}
			}
			if len(sum) > 0 {
				var parts []string
				for _, k := range slices.Sorted(maps.Keys(sum)) {
					parts = append(parts, fmt.Sprintf("%s %d", k, sum[k]))
				}
				notes = append(notes, fmt.Sprintf("%s, %s: %s", srv, l, strings.Join(parts, ", ")))
			}
		}
	}
	return notes
}

// ---- scenario 1 -----------------------------------------------------------------------

// Overhead is scenario 1: clusterd against the physical limit of its design, two bare
// processes sharing one socket with no master at all, because that limit and not another
// manager is what clusterd promises to come within 2 % of.
func Overhead(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	demo := []string{rg.Clusterd, "demo"}
	const (
		cd        = "clusterd -i 2"
		pair      = "bare pair"
		single    = "one bare process"
		pairGMP   = "bare pair, GOMAXPROCS=1"
		pairOwn   = "bare pair, GOMAXPROCS=1, a session each"
		cdAllCPUs = "clusterd -i 2, GOMAXPROCS=all CPUs"
		reference = "bare fasthttp pair, GOMAXPROCS=1, a session each"
	)
	servers := []rig.Server{
		&rig.ClusterdServer{Rig: rg, Name: cd, Instances: 2, Command: demo},
		&rig.BareServer{Rig: rg, Name: pair, N: 2, Shared: true, Command: demo},
		&rig.BareServer{Rig: rg, Name: single, N: 1, Command: []string{rg.Clusterd, "demo", "--listen", "{addr}"}},
		&rig.BareServer{Rig: rg, Name: pairGMP, N: 2, Shared: true, Command: demo, Env: []string{"GOMAXPROCS=1"}},
		// The same processes placed as clusterd places its workers, each
		// in a session (and so a scheduler autogroup) of its own: what is
		// left between it and clusterd is the master.
		&rig.BareServer{Rig: rg, Name: pairOwn, N: 2, Shared: true, Command: demo, Env: []string{"GOMAXPROCS=1"}, OwnSessions: true},
		// What the workers ran before package worker took its share of the
		// CPUs by default (docs/design.md §17).
		&rig.ClusterdServer{Rig: rg, Name: cdAllCPUs, Instances: 2, Command: demo, Env: []string{"GOMAXPROCS=" + strconv.Itoa(runtime.NumCPU())}},
		// The limit the demo is held to: fasthttp answering the same bytes with
		// nothing of clusterd's (bench/fasthttpref), placed as clusterd places workers.
		&rig.BareServer{Rig: rg, Name: reference, N: 2, Shared: true, Command: []string{rg.FasthttpRef}, Env: []string{"GOMAXPROCS=1"}, OwnSessions: true},
	}
	loads := []rig.WrkLoad{rig.KeepAlive64, rig.KeepAlive256, rig.NewConn64}
	sec.Printf("`clusterd -i 2 --wait-ready -- clusterd demo` against the physical limit of its design: "+
		"two bare `clusterd demo` processes that inherit one listening socket from the suite "+
		"(fd 3 with LISTEN_FDS/LISTEN_PID, exactly what clusterd's workers get, but no master at "+
		"all). Also one bare process listening by itself, the bare pair with `GOMAXPROCS=1` "+
		"in each worker, the same with each process in a session of its own as clusterd places its "+
		"workers (a session is a scheduler autogroup: the kernel splits the CPU between sessions "+
		"first, so this decides how the two cores are shared with wrk), "+
		"and clusterd with every worker's GOMAXPROCS at the number of CPUs "+
		"(what the workers ran before package worker took its share by default, docs/design.md §17), "+
		"and two bare processes of bench/fasthttpref placed the same way: a fasthttp program that answers "+
		"`/` with the same bytes as the demo and holds nothing else (no worker library, no drain, none of "+
		"clusterd's packages), the reference for the demo's req/s and CPU per request. CPU per request is "+
		"the CPU time of the server's processes over a run (master included for clusterd, from each "+
		"thread's schedstat) ÷ the requests wrk counted. Load: wrk, two threads, %d rounds of %v per target "+
		"and load, after a %v warm-up.\n",
		rg.Prof.Rounds, rg.Prof.Duration, rg.Prof.Warmup)

	stop, err := rg.StartAll(ctx, servers...)
	if err != nil {
		return sec, err
	}
	res, err := sideBySide(ctx, rg, servers, loads)
	err = errors.Join(err, stop())
	sec.Raw = res
	if res == nil {
		return sec, err
	}

	var rows [][]string
	var scale [][]string
	var series = map[string][]stats.Spread{}
	for _, l := range loads {
		overheadRatio := res.ratios(l.Name, cd, pair, rps)
		rows = append(rows, []string{l.Name, overheadRatio.Ratio(),
			res.ratios(l.Name, cd, pair, p99).Ratio(),
			res.ratios(l.Name, single, pair, rps).Ratio(),
			res.ratios(l.Name, pairGMP, pair, rps).Ratio(),
			res.ratios(l.Name, cd, pairGMP, rps).Ratio(),
			res.ratios(l.Name, cd, pairOwn, rps).Ratio(),
			res.ratios(l.Name, cdAllCPUs, pair, rps).Ratio()})
		scale = append(scale, []string{l.Name, stats.Kilo(res.values(l.Name, pair, rps).Median),
			stats.Kilo(res.values(l.Name, cd, rps).Median), stats.Kilo(res.values(l.Name, single, rps).Median),
			stats.Kilo(res.values(l.Name, pairGMP, rps).Median), stats.Kilo(res.values(l.Name, pairOwn, rps).Median),
			stats.Kilo(res.values(l.Name, reference, rps).Median)})
		series[cd] = append(series[cd], overheadRatio)
		series[single] = append(series[single], res.ratios(l.Name, single, pair, rps))
		series[pairGMP] = append(series[pairGMP], res.ratios(l.Name, pairGMP, pair, rps))
		series[pairOwn] = append(series[pairOwn], res.ratios(l.Name, pairOwn, pair, rps))
		sec.Goals = append(sec.Goals, report.Goal{
			What: "clusterd / bare pair, " + l.Name, Target: "≥ 0.98",
			Measured: overheadRatio.Format("%.3f"), Met: report.Judged(overheadRatio.Median >= 0.98)})
		placed := res.ratios(l.Name, cd, pairOwn, rps)
		sec.Goals = append(sec.Goals, report.Goal{
			What: "clusterd / bare pair placed as clusterd places workers, " + l.Name, Target: "≥ 0.98",
			Measured: placed.Format("%.3f"), Met: report.Judged(placed.Median >= 0.98)})
	}
	sec.Table([]string{"Load", "clusterd / bare pair (req/s)", "clusterd / bare pair (p99 latency, lower is better)",
		"one bare process / bare pair (req/s)", "bare pair GOMAXPROCS=1 / default (req/s)",
		"clusterd / bare pair GOMAXPROCS=1 (req/s)", "clusterd / bare pair GOMAXPROCS=1, a session each (req/s)",
		"clusterd GOMAXPROCS=all CPUs / bare pair (req/s)"}, rows)
	var refRows [][]string
	for _, l := range loads {
		speed, thrift := res.ratios(l.Name, cd, reference, rps), res.ratios(l.Name, cd, reference, requestsPerCPU)
		refRows = append(refRows, []string{l.Name, speed.Ratio(), thrift.Ratio(),
			res.ratios(l.Name, pairOwn, reference, rps).Ratio(), res.ratios(l.Name, pairOwn, reference, requestsPerCPU).Ratio(),
			res.values(l.Name, reference, cpuPerRequest).Format("%.1f"), res.values(l.Name, pairOwn, cpuPerRequest).Format("%.1f"),
			res.values(l.Name, cd, cpuPerRequest).Format("%.1f")})
		sec.Goals = append(sec.Goals,
			report.Goal{What: "clusterd -i 2 -- clusterd demo / bare fasthttp pair, req/s, " + l.Name, Target: "≥ 0.95",
				Measured: speed.Format("%.3f"), Met: report.Judged(speed.Median >= 0.95)},
			report.Goal{What: "clusterd -i 2 -- clusterd demo / bare fasthttp pair, requests per CPU second, " + l.Name, Target: "≥ 0.95",
				Measured: thrift.Format("%.3f"), Met: report.Judged(thrift.Median >= 0.95)})
	}
	sec.Printf("Against %s (requests per CPU second: requests ÷ the CPU time the server's processes "+
		"spent, so 0.95 means 5 %% more CPU per request):\n", reference)
	sec.Table([]string{"Load", "clusterd / reference (req/s)", "clusterd / reference (requests per CPU second)",
		"bare demo pair placed alike / reference (req/s)", "bare demo pair placed alike / reference (requests per CPU second)",
		"CPU per request, reference (µs)", "CPU per request, bare demo pair (µs)", "CPU per request, clusterd incl. master (µs)"}, refRows)
	sec.Printf("For scale only, median req/s of this run:\n")
	sec.Table([]string{"Load", pair, cd, single, pairGMP, pairOwn, reference}, scale)
	sec.Printf("%s\n", res.errorSummary(loads))
	svg, perr := report.RatioPlot("Throughput relative to two bare processes sharing one socket",
		"req/s ÷ bare pair's req/s (same round)", loadNames(loads),
		[]string{cd, single, pairGMP, pairOwn}, series, []float64{1, 0.98})
	if perr == nil {
		sec.Plots = append(sec.Plots, report.Plot{Name: "overhead", Caption: "Scenario 1: throughput relative to the bare pair", SVG: svg})
	}
	return sec, errors.Join(err, perr)
}

func loadNames(loads []rig.WrkLoad) []string {
	var names []string
	for _, l := range loads {
		names = append(names, l.Name)
	}
	return names
}

// ---- scenario 2 -----------------------------------------------------------------------

// Managers is scenario 2: the same Node server under clusterd, PM2 and Node's cluster
// module, because a user choosing a manager compares them on their own app, not on ours.
func Managers(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	n := runtime.NumCPU()
	cdName := fmt.Sprintf("clusterd -i max (%d)", n)
	rpName := fmt.Sprintf("clusterd -i max --reuseport (%d)", n)
	pm2Name := fmt.Sprintf("pm2 -i max (%d)", n)
	clusterName := fmt.Sprintf("node cluster (%d)", n)
	bareName := fmt.Sprintf("bare node (%d), a session each", n)
	servers := []rig.Server{
		&rig.ClusterdServer{Rig: rg, Name: cdName, Instances: n, Command: []string{rg.Node, rg.NodeScript}},
		// One SO_REUSEPORT socket per slot: the kernel deals connections
		// evenly, as PM2's round robin does (docs/design.md §10).
		&rig.ClusterdServer{Rig: rg, Name: rpName, Instances: n, Command: []string{rg.Node, rg.NodeScript}, Flags: []string{"--reuseport"}},
		&rig.PM2Server{Rig: rg, Name: pm2Name, Instances: n, Script: rg.NodeScript},
		&rig.BareServer{Rig: rg, Name: clusterName, N: 1, Command: []string{rg.Node, rg.ClusterScript},
			Env: []string{"HOST={host}", "PORT={port}", fmt.Sprintf("WORKERS=%d", n)}},
		// The physical limit: the same processes on one inherited socket,
		// placed as clusterd places them, with no master at all.
		&rig.BareServer{Rig: rg, Name: bareName, N: n, Shared: true, Command: []string{rg.Node, rg.NodeScript}, OwnSessions: true},
	}
	loads := []rig.WrkLoad{rig.KeepAlive64, rig.KeepAlive256, rig.NewConn64}
	sec.Printf("One Node HTTP server, [examples/node/server.js](../../examples/node/server.js) "+
		"(PM2-style: `process.send('ready')`; under clusterd it serves the inherited fd 3 and "+
		"writes READY=1 to NOTIFY_FD), run with %d workers by clusterd (workers share the socket, "+
		"no master in the data path), by `pm2 start -i max --wait-ready` (cluster mode: PM2's "+
		"daemon accepts every connection and hands it to a worker, round robin) and by Node's own "+
		"cluster module ([examples/node/cluster.js](../../examples/node/cluster.js), round robin "+
		"too). clusterd runs twice: on one shared socket, and with `--reuseport` (one SO_REUSEPORT "+
		"socket per worker slot, which the kernel deals connections to evenly). The physical limit "+
		"is the same %d Node processes with no manager at all, inheriting one socket from the suite "+
		"as clusterd's workers do, each in a session of its own as clusterd places them. "+
		"Load: wrk, two threads, %d rounds of %v per target and load.\n",
		n, n, rg.Prof.Rounds, rg.Prof.Duration)

	stop, err := rg.StartAll(ctx, servers...)
	if err != nil {
		return sec, err
	}
	res, err := sideBySide(ctx, rg, servers, loads)
	err = errors.Join(err, stop())
	sec.Raw = res
	if res == nil {
		return sec, err
	}
	var rows, scale, limits [][]string
	series := map[string][]stats.Spread{}
	for _, l := range loads {
		cdRatio := res.ratios(l.Name, cdName, pm2Name, rps)
		rpRatio := res.ratios(l.Name, rpName, pm2Name, rps)
		rows = append(rows, []string{l.Name, cdRatio.Ratio(), res.ratios(l.Name, cdName, pm2Name, p99).Ratio(),
			rpRatio.Ratio(), res.ratios(l.Name, rpName, pm2Name, p99).Ratio(),
			res.ratios(l.Name, clusterName, pm2Name, rps).Ratio(), res.ratios(l.Name, clusterName, pm2Name, p99).Ratio()})
		scale = append(scale, []string{l.Name, stats.Kilo(res.values(l.Name, pm2Name, rps).Median),
			stats.Kilo(res.values(l.Name, cdName, rps).Median), stats.Kilo(res.values(l.Name, rpName, rps).Median),
			stats.Kilo(res.values(l.Name, clusterName, rps).Median), stats.Kilo(res.values(l.Name, bareName, rps).Median)})
		series[cdName] = append(series[cdName], cdRatio)
		series[rpName] = append(series[rpName], rpRatio)
		series[clusterName] = append(series[clusterName], res.ratios(l.Name, clusterName, pm2Name, rps))
		limit := res.ratios(l.Name, cdName, bareName, rps)
		limits = append(limits, []string{l.Name, limit.Ratio(), res.ratios(l.Name, cdName, bareName, p99).Ratio(),
			res.ratios(l.Name, pm2Name, bareName, rps).Ratio()})
		sec.Goals = append(sec.Goals, report.Goal{What: "clusterd / bare Node processes, " + l.Name, Target: "≥ 0.98",
			Measured: limit.Format("%.3f"), Met: report.Judged(limit.Median >= 0.98)})
		sec.Goals = append(sec.Goals, report.Goal{What: "clusterd / PM2, Node server, " + l.Name, Target: "≥ 1.3",
			Measured: cdRatio.Format("%.2f"), Met: report.Judged(cdRatio.Median >= 1.3)})
		sec.Goals = append(sec.Goals, report.Goal{What: "clusterd --reuseport / PM2, Node server, " + l.Name, Target: "≥ 1.3",
			Measured: rpRatio.Format("%.2f"), Met: report.Judged(rpRatio.Median >= 1.3)})
	}
	sec.Table([]string{"Load", "clusterd / PM2 (req/s)", "clusterd / PM2 (p99 latency, lower is better)",
		"clusterd --reuseport / PM2 (req/s)", "clusterd --reuseport / PM2 (p99 latency)",
		"node cluster / PM2 (req/s)", "node cluster / PM2 (p99 latency)"}, rows)
	sec.Printf("The same server against its physical limit, %s:\n", bareName)
	sec.Table([]string{"Load", "clusterd / bare (req/s)", "clusterd / bare (p99 latency, lower is better)", "PM2 / bare (req/s)"}, limits)
	sec.Printf("For scale only, median req/s of this run:\n")
	sec.Table([]string{"Load", pm2Name, cdName, rpName, clusterName, bareName}, scale)
	sec.Printf("%s\n", res.errorSummary(loads))
	svg, perr := report.RatioPlot("Same Node server: throughput relative to PM2",
		"req/s ÷ PM2's req/s (same round)", loadNames(loads),
		[]string{cdName, rpName, clusterName}, series, []float64{1, 1.3})
	if perr == nil {
		sec.Plots = append(sec.Plots, report.Plot{Name: "managers", Caption: "Scenario 2: the same Node server under clusterd and Node's cluster module, relative to PM2", SVG: svg})
	}
	return sec, errors.Join(err, perr)
}
