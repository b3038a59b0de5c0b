package steady

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
	"github.com/clusterd/clusterd/bench/stats"
)

// costRun is one supervisor with n workers.
type costRun struct {
	Manager     string            `json:"manager"`
	Workers     int               `json:"workers"`
	WorkerKind  string            `json:"worker_kind"`
	StartReady  time.Duration     `json:"start_to_all_ready_ns"`
	Idle        [2]rig.ProcSample `json:"idle"`
	Load        [2]rig.ProcSample `json:"load"`
	WorkersCPU  time.Duration     `json:"workers_cpu_under_load_ns"`
	LoadRPS     float64           `json:"load_requests_per_sec"`
	LoadErrors  map[string]int64
	IdleCPU     float64 `json:"idle_cpu_share"`        // of one CPU
	LoadCPU     float64 `json:"load_cpu_share"`        // of one CPU
	LoadShare   float64 `json:"load_share_of_all_cpu"` // supervisor / (supervisor + workers)
	IdleWakeups float64 `json:"idle_wakeups_per_sec"`  // context switches per second
	LoadWakeups float64 `json:"load_wakeups_per_sec"`  // context switches per second
	RSSAfter    uint64  `json:"rss_after_load_bytes"`  //
	// RSSSettled is sampled settleAfterLoad after the load, with nothing
	// asked of the supervisor meanwhile: clusterd's master unmaps the code
	// pages its last requests touched every 10 s (process/memory.go).
	RSSSettled uint64 `json:"rss_settled_bytes,omitempty"`
	FDsAfter   int    `json:"fds_after_load"`     //
	ThreadsMax int    `json:"threads_after_load"` //
	Note       string `json:"note,omitempty"`     //
}

// measureCost starts srv, times it to all ready, and samples its supervisor idle and under
// connection churn (the load that would wake a master holding the socket in its poller,
// docs/design.md §4).
func measureCost(ctx context.Context, rg *rig.Rig, srv rig.Server, manager, kind string, n int, underLoad bool) (costRun, error) {
	cr := costRun{Manager: manager, Workers: n, WorkerKind: kind}
	start := time.Now()
	rig.Logf("  starting %s", srv.Label())
	if err := srv.Start(ctx); err != nil {
		return cr, errors.Join(err, srv.Stop())
	}
	cr.StartReady = time.Since(start)
	if c, ok := srv.(*rig.ClusterdServer); ok {
		if t, ok := c.AllReadyLogged(); ok {
			cr.StartReady, cr.Note = t.Sub(c.StartedAt()), "start to ready from the master's log"
		}
	}
	err := func() error {
		sup := srv.(rig.Supervised)
		pid := sup.SupervisorPID()
		time.Sleep(time.Second) // let start-up work (GC, PM2's first metrics) pass
		var err error
		if cr.Idle[0], err = rig.SampleProc(pid); err != nil {
			return err
		}
		time.Sleep(rg.Prof.CostWindow)
		if cr.Idle[1], err = rig.SampleProc(pid); err != nil {
			return err
		}
		if !underLoad {
			return nil
		}
		workers, err := sup.WorkerPIDs(ctx)
		if err != nil {
			return err
		}
		w0 := rig.SampleAll(workers)
		if cr.Load[0], err = rig.SampleProc(pid); err != nil {
			return err
		}
		res, err := rg.RunWrk(ctx, srv.Addr(), rig.NewConn64, rg.Prof.CostWindow)
		if err != nil {
			return err
		}
		if cr.Load[1], err = rig.SampleProc(pid); err != nil {
			return err
		}
		cr.WorkersCPU = rig.SampleAll(workers) - w0
		cr.LoadRPS, cr.LoadErrors = res.RequestsPerSec, res.Errors
		time.Sleep(settleAfterLoad)
		settled, err := rig.SampleProc(pid)
		cr.RSSSettled = settled.RSS
		return err
	}()
	cr.compute()
	rig.Logf("  %s: ready after %v, RSS %.1f MiB, idle CPU %.3f%%, under load %.3f%% of a CPU (%.2f%% of all CPU used)",
		srv.Label(), cr.StartReady.Round(time.Millisecond), float64(cr.RSSAfter)/(1<<20), 100*cr.IdleCPU,
		100*cr.LoadCPU, 100*cr.LoadShare)
	return cr, errors.Join(err, srv.Stop())
}

func (cr *costRun) compute() {
	share := func(a, b rig.ProcSample) (cpu, wakeups float64) {
		secs := b.At.Sub(a.At).Seconds()
		if secs <= 0 {
			return 0, 0
		}
		return (b.CPU - a.CPU).Seconds() / secs, float64(b.CtxSwitches-a.CtxSwitches) / secs
	}
	cr.IdleCPU, cr.IdleWakeups = share(cr.Idle[0], cr.Idle[1])
	last := cr.Idle[1]
	if !cr.Load[1].At.IsZero() {
		cr.LoadCPU, cr.LoadWakeups = share(cr.Load[0], cr.Load[1])
		sup := cr.Load[1].CPU - cr.Load[0].CPU
		if total := sup + cr.WorkersCPU; total > 0 {
			cr.LoadShare = float64(sup) / float64(total)
		}
		last = cr.Load[1]
	}
	cr.RSSAfter, cr.FDsAfter, cr.ThreadsMax = last.RSS, last.FDs, last.Threads
}

// settleAfterLoad is how long after the load the settled RSS is sampled:
// one trim period of clusterd's master and a second.
const settleAfterLoad = 11 * time.Second

// tinyWorker reports READY=1 on NOTIFY_FD and sleeps: a worker that costs nothing to start,
// to time the master's own part of a 256-worker start.
var tinyWorker = []string{"sh", "-c", `echo READY=1 >&"$NOTIFY_FD"; exec sleep 3600`}

// MasterCost is scenario 7: what the supervisor alone costs (start time, RSS, CPU idle and
// under connection churn, wake-ups), because a master out of the data path should cost
// next to nothing however many workers it runs.
func MasterCost(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	sec.Printf("The supervisor alone: clusterd's master (`clusterd -i N --wait-ready -- clusterd demo`) "+
		"and PM2's daemon (`pm2 start -i N --wait-ready` of the Node server). Start to all ready is "+
		"measured from the moment the suite starts the command (clusterd: until the time stamp of "+
		"the master's \"all workers ready\" log line, to the millisecond, because a `status` call "+
		"takes 250 ms since it samples the workers' CPU; PM2: until `pm2 start` returned and `pm2 jlist` shows N online). Then, "+
		"after a second to settle, %v idle and %v of wrk with a new connection per request "+
		"(64 at a time): CPU time of the supervisor from each thread's schedstat, as a share of one "+
		"CPU and as a share of all the CPU that supervisor and workers used under load; wake-ups "+
		"are its context switches per second. RSS after the load. The tiny worker (`sh -c 'echo "+
		"READY=1 >&$NOTIFY_FD; exec sleep 3600'`) times the master's own part of a start, without "+
		"256 Go runtimes starting on 2 cores.\n", rg.Prof.CostWindow, rg.Prof.CostWindow)

	var runs []costRun
	var errs []error
	for _, n := range rg.Prof.CostWorkers {
		srv := &rig.ClusterdServer{Rig: rg, Name: fmt.Sprintf("clusterd -i %d", n), Instances: n,
			Command: []string{rg.Clusterd, "demo"}}
		cr, err := measureCost(ctx, rg, srv, "clusterd master", "Go demo", n, true)
		runs = append(runs, cr)
		if err != nil {
			errs = append(errs, err)
			break
		}
	}
	if last := rg.Prof.CostWorkers[len(rg.Prof.CostWorkers)-1]; ctx.Err() == nil {
		srv := &rig.ClusterdServer{Rig: rg, Name: fmt.Sprintf("clusterd -i %d tiny", last), Instances: last,
			Command: tinyWorker}
		cr, err := measureCost(ctx, rg, srv, "clusterd master", "tiny (sh)", last, false)
		runs = append(runs, cr)
		errs = append(errs, err)
	}
	for _, n := range rg.Prof.PM2CostWorkers {
		if ctx.Err() != nil {
			break
		}
		srv := &rig.PM2Server{Rig: rg, Name: fmt.Sprintf("pm2 -i %d", n), Instances: n, Script: rg.NodeScript}
		cr, err := measureCost(ctx, rg, srv, "PM2 daemon", "Node server", n, true)
		runs = append(runs, cr)
		if err != nil {
			errs = append(errs, err)
			break
		}
	}
	sec.Raw = runs

	mib := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	pct := func(v float64) string { return fmt.Sprintf("%.4f %%", 100*v) }
	var rows [][]string
	xs, rss := map[string][]float64{}, map[string][]float64{}
	for _, cr := range runs {
		load := []string{"–", "–", "–", "–"}
		if !cr.Load[1].At.IsZero() {
			load = []string{pct(cr.LoadCPU), pct(cr.LoadShare), fmt.Sprintf("%.0f", cr.LoadWakeups), stats.Kilo(cr.LoadRPS)}
		}
		rows = append(rows, append([]string{cr.Manager, cr.WorkerKind, fmt.Sprint(cr.Workers),
			stats.Ms(float64(cr.StartReady)), mib(cr.RSSAfter), settledMiB(cr), pct(cr.IdleCPU), fmt.Sprintf("%.1f", cr.IdleWakeups)},
			append(load, fmt.Sprint(cr.FDsAfter), fmt.Sprint(cr.ThreadsMax))...))
		if cr.WorkerKind != "tiny (sh)" && cr.RSSAfter > 0 {
			xs[cr.Manager] = append(xs[cr.Manager], float64(cr.Workers))
			rss[cr.Manager] = append(rss[cr.Manager], float64(cr.RSSAfter)/(1<<20))
		}
	}
	sec.Table([]string{"Supervisor", "Workers", "N", "Start to all ready", "RSS after load", "RSS 11 s later", "CPU idle (of one CPU)",
		"Wake-ups/s idle", "CPU under load (of one CPU)", "Share of all CPU under load", "Wake-ups/s under load",
		"wrk req/s (scale)", "Open fds", "Threads"}, rows)

	// Ratios against PM2's daemon at the same worker count.
	var ratioRows [][]string
	for _, cr := range runs {
		if cr.Manager != "clusterd master" || cr.WorkerKind != "Go demo" {
			continue
		}
		for _, pm := range runs {
			if pm.Manager == "PM2 daemon" && pm.Workers == cr.Workers && pm.RSSAfter > 0 {
				ratioRows = append(ratioRows, []string{fmt.Sprint(cr.Workers),
					fmt.Sprintf("%.2f", float64(cr.RSSAfter)/float64(pm.RSSAfter)),
					fmt.Sprintf("%.4f", cr.LoadShare/pm.LoadShare),
					fmt.Sprintf("%.2f", float64(cr.StartReady)/float64(pm.StartReady))})
			}
		}
	}
	if len(ratioRows) > 0 {
		sec.Printf("clusterd's master relative to PM2's daemon at the same number of workers (the workers differ: Go demo and Node server; the start time includes them):\n")
		sec.Table([]string{"Workers", "RSS, clusterd / PM2", "Share of all CPU under load, clusterd / PM2",
			"Start to all ready, clusterd / PM2"}, ratioRows)
	}

	for _, cr := range runs {
		if cr.Manager != "clusterd master" {
			continue
		}
		switch {
		case cr.WorkerKind == "tiny (sh)":
			sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("start to all %d ready, tiny worker", cr.Workers),
				Target: "< 1.5 s", Measured: stats.Ms(float64(cr.StartReady)), Met: report.Judged(cr.StartReady < 1500*time.Millisecond)})
		case cr.Workers == 2:
			sec.Goals = append(sec.Goals, report.Goal{What: "master RSS, 2 workers, right after the load", Target: "≤ 10 MiB", Measured: mib(cr.RSSAfter),
				Met: report.Judged(cr.RSSAfter <= 10<<20)})
			sec.Goals = append(sec.Goals, report.Goal{What: "master RSS, 2 workers, 11 s after the load", Target: "≤ 10 MiB", Measured: settledMiB(cr),
				Met: report.Judged(cr.RSSSettled > 0 && cr.RSSSettled <= 10<<20)})
			sec.Goals = append(sec.Goals, report.Goal{What: "master CPU idle, 2 workers", Target: "< 0.1 %", Measured: pct(cr.IdleCPU),
				Met: report.Judged(cr.IdleCPU < 0.001)})
			sec.Goals = append(sec.Goals, report.Goal{What: "master CPU under connection churn, 2 workers", Target: "none (< 0.1 %)",
				Measured: fmt.Sprintf("%s, %.0f wake-ups/s", pct(cr.LoadCPU), cr.LoadWakeups), Met: report.Judged(cr.LoadCPU < 0.001)})
		case cr.Workers == 256:
			sec.Goals = append(sec.Goals, report.Goal{What: "master RSS, 256 workers", Target: "≤ 20 MiB", Measured: mib(cr.RSSAfter),
				Met: report.Judged(cr.RSSAfter <= 20<<20)})
			sec.Goals = append(sec.Goals, report.Goal{What: "start to all 256 ready, Go demo", Target: "< 1.5 s",
				Measured: stats.Ms(float64(cr.StartReady)), Met: report.Judged(cr.StartReady < 1500*time.Millisecond)})
		}
	}
	names := []string{"clusterd master", "PM2 daemon"}
	svg, perr := report.LinePlot("Resident memory of the supervisor", "workers (log scale)", "RSS after load, MiB",
		names, xs, rss)
	if perr == nil {
		sec.Plots = append(sec.Plots, report.Plot{Name: "master-rss", Caption: "Scenario 7: RSS of clusterd's master and PM2's daemon by number of workers", SVG: svg})
	}
	return sec, errors.Join(append(errs, perr)...)
}

func settledMiB(cr costRun) string {
	if cr.RSSSettled == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MiB", float64(cr.RSSSettled)/(1<<20))
}
