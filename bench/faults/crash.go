package faults

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
	"github.com/clusterd/clusterd/bench/stats"
)

// crashRate is the probability that one request kills its worker, as issue 6 sets it.
const crashRate = 0.001

// bareRestarted names the pair that shows the physical limit of crash recovery.
const bareRestarted = "bare demo pair, re-forked at once (no manager)"

// pm2NoGiveUp keeps PM2 restarting a worker that dies young: by default PM2 marks an app
// errored and stops restarting it after 16 deaths within --min-uptime (1 s) of their start,
// which a server crashing at this rate reaches in seconds. It does not change how fast PM2
// restarts a worker. clusterd needs no such flag: it tells a crash after READY from a
// failed start (docs/design.md §7).
var pm2NoGiveUp = []string{"--max-restarts", "1000000"}

// crashRun is one server's run under load.
type crashRun struct {
	Server  string      `json:"server"`
	Round   int         `json:"round"`
	Result  load.Result `json:"result"`
	Goodput float64     `json:"goodput_per_sec"`
	// WrkGoodput is wrk's Requests/sec (responses per second) in a run of its own just
	// before: issue 6 states the goal under wrk, whose load costs less CPU than bench/load's
	// on a machine where load and restarts compete for two cores.
	WrkGoodput float64       `json:"wrk_goodput_per_sec"`
	Wrk        rig.WrkResult `json:"wrk"`
	SilentTime float64       `json:"silent_share"` // share of 10 ms windows without one answer
	Workers    int           `json:"worker_pids_that_answered"`
}

// crashPair is one manager with the same server crash-free and crash-prone.
type crashPair struct {
	manager       string
	free, crashes rig.Server
}

// CrashProne is scenario 5: the goodput a server keeps when one request in a thousand kills
// its worker, because how fast a manager replaces a dead worker decides how much of the
// machine a buggy app can still use.
func CrashProne(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	crashEnv := []string{fmt.Sprintf("CRASH_RATE=%g", crashRate)}
	pairs := []crashPair{
		{"clusterd, Go demo",
			&rig.ClusterdServer{Rig: rg, Name: "clusterd demo", Instances: 2, Command: []string{rg.Clusterd, "demo"}},
			&rig.ClusterdServer{Rig: rg, Name: "clusterd demo crash-prone", Instances: 2,
				Command: []string{rg.Clusterd, "demo", fmt.Sprintf("--crash-rate=%g", crashRate)}}},
		{"clusterd, Node server",
			&rig.ClusterdServer{Rig: rg, Name: "clusterd node", Instances: 2, Command: []string{rg.Node, rg.NodeScript}},
			&rig.ClusterdServer{Rig: rg, Name: "clusterd node crash-prone", Instances: 2,
				Command: []string{rg.Node, rg.NodeScript}, Env: crashEnv}},
		// The physical limit: the same two demos on one inherited socket, each started
		// again by the suite the moment it exits (through sh, which sets LISTEN_PID),
		// placed and sized as clusterd places and sizes its workers. No supervisor can
		// restart with less work than this, so no manager's ratio can be expected above
		// this one's on the same machine.
		{bareRestarted,
			&rig.BareServer{Rig: rg, Name: "bare demo pair, re-forked at once", N: 2, Shared: true, Restart: true,
				OwnSessions: true, Env: []string{"GOMAXPROCS=1"}, Command: []string{rg.Clusterd, "demo"}},
			&rig.BareServer{Rig: rg, Name: "bare demo pair crash-prone, re-forked at once", N: 2, Shared: true, Restart: true,
				OwnSessions: true, Env: []string{"GOMAXPROCS=1"},
				Command: []string{rg.Clusterd, "demo", fmt.Sprintf("--crash-rate=%g", crashRate)}}},
		{"PM2, Node server",
			&rig.PM2Server{Rig: rg, Name: "pm2 node", Instances: 2, Script: rg.NodeScript, Flags: pm2NoGiveUp},
			&rig.PM2Server{Rig: rg, Name: "pm2 node crash-prone", Instances: 2, Script: rg.NodeScript,
				Env: crashEnv, Flags: pm2NoGiveUp}},
	}
	var servers []rig.Server
	for _, p := range pairs {
		servers = append(servers, p.free, p.crashes)
	}
	sec.Printf("Each request kills its worker with probability %g (`clusterd demo --crash-rate %g`; "+
		"`CRASH_RATE=%g` for the Node server), two workers, 64 keep-alive connections, %d rounds, "+
		"the eight servers interleaved. In each round every server gets %v of wrk (goodput: its "+
		"responses per second; the load of issue 6's goal) and then %v of bench/load (which "+
		"accounts for every request: failed share, restarts, silences). The ratio divides the "+
		"crash-prone server's goodput by the same server's crash-free goodput under the same "+
		"manager in the same round. PM2 runs with `--max-restarts 1000000`: by default PM2 stops "+
		"restarting an app after 16 deaths within a second of their start, which this server "+
		"reaches in seconds; the flag does not make PM2 restart any faster. clusterd needs no "+
		"such flag: it tells a crash after READY from a failed start (docs/design.md §7).\n",
		crashRate, crashRate, crashRate, rg.Prof.CrashRounds, rg.Prof.CrashDuration, rg.Prof.CrashDuration)

	stop, err := rg.StartAll(ctx, servers...)
	if err != nil {
		return sec, err
	}
	var runs []crashRun
	err = func() error {
		for round := range rg.Prof.CrashRounds {
			for k := range servers {
				srv := servers[(k+round)%len(servers)]
				if err := rig.WaitServing(ctx, srv); err != nil {
					return err
				}
				w, err := rg.RunWrk(ctx, srv.Addr(), rig.KeepAlive64, rg.Prof.CrashDuration)
				if err != nil {
					return err
				}
				if err := rig.WaitServing(ctx, srv); err != nil {
					return err
				}
				cr, err := crashLoad(ctx, srv, rg.Prof.CrashDuration)
				cr.Round, cr.Wrk, cr.WrkGoodput = round, w, w.RequestsPerSec
				runs = append(runs, cr)
				rig.Logf("  round %d, %s: wrk %s/s; bench/load: goodput %s/s, silent %.1f%%, %s", round+1,
					srv.Label(), stats.Kilo(cr.WrkGoodput), stats.Kilo(cr.Goodput), 100*cr.SilentTime, rig.Brief(cr.Result))
				if err != nil {
					return err
				}
			}
		}
		return nil
	}()
	err = errors.Join(err, stop())
	sec.Raw = runs

	var rows [][]string
	var names []string
	series := map[string][]stats.Spread{}
	pm2Crashy := pairs[len(pairs)-1].crashes.Label()
	for _, p := range pairs {
		var ratio, wrkRatio, vsPM2, failShare, restartRate, silent []float64
		for round := range rg.Prof.CrashRounds {
			free, crashy := findRun(runs, p.free.Label(), round), findRun(runs, p.crashes.Label(), round)
			if free == nil || crashy == nil {
				continue
			}
			ratio = append(ratio, crashy.Goodput/free.Goodput)
			wrkRatio = append(wrkRatio, crashy.WrkGoodput/free.WrkGoodput)
			if pm := findRun(runs, pm2Crashy, round); pm != nil {
				vsPM2 = append(vsPM2, crashy.WrkGoodput/pm.WrkGoodput)
			}
			failShare = append(failShare, float64(crashy.Result.FailedTotal()+crashy.Result.Unanswered)/float64(crashy.Result.Issued))
			restartRate = append(restartRate, float64(crashy.Workers-2)/rg.Prof.CrashDuration.Seconds())
			silent = append(silent, crashy.SilentTime)
		}
		r, rw := stats.SpreadOf(ratio), stats.SpreadOf(wrkRatio)
		rows = append(rows, []string{p.manager, rw.Ratio(), r.Ratio(), stats.SpreadOf(vsPM2).Ratio(), stats.SpreadOf(failShare).Format("%.4f"),
			stats.SpreadOf(restartRate).Format("%.0f"), stats.SpreadOf(silent).Format("%.3f")})
		names = append(names, p.manager)
		series[p.manager] = []stats.Spread{rw, r}
		if p.manager == "clusterd, Go demo" {
			sec.Goals = append(sec.Goals, report.Goal{What: "goodput with --crash-rate 0.001 / crash-free, Go demo, under wrk",
				Target: "≥ 0.7", Measured: rw.Format("%.2f"), Met: report.Judged(rw.Median >= 0.7)})
		} else {
			sec.Goals = append(sec.Goals, report.Goal{What: "goodput crash-prone / crash-free under wrk, " + p.manager,
				Target: "(reported)", Measured: rw.Format("%.2f")})
		}
	}
	sec.Table([]string{"Manager and server", "Goodput, crash-prone / crash-free (wrk)",
		"Goodput, crash-prone / crash-free (bench/load)", "Crash-prone goodput / PM2's crash-prone goodput (wrk)",
		"Failed share of issued (crash-prone, bench/load)", "Restarts per second survived",
		"Share of 10 ms windows with no answer"}, rows)
	var ofLimit []float64
	for round := range rg.Prof.CrashRounds {
		cd, bare := findRun(runs, pairs[0].crashes.Label(), round), findRun(runs, pairs[2].crashes.Label(), round)
		if cd != nil && bare != nil && bare.WrkGoodput > 0 {
			ofLimit = append(ofLimit, cd.WrkGoodput/bare.WrkGoodput)
		}
	}
	limit := stats.SpreadOf(ofLimit)
	sec.Goals = append(sec.Goals, report.Goal{What: "crash-prone goodput under wrk, clusterd Go demo / " + bareRestarted,
		Target: "(reported: the share of the physical limit)", Measured: limit.Format("%.2f")})
	sec.Printf("Crash-prone goodput under wrk, clusterd's Go demo ÷ the bare pair re-forked at once, same round: %s. "+
		"The bare pair's own ratio above is what this machine allows any manager: each start of the demo "+
		"costs its CPU time whoever forks it.\n", limit.Ratio())
	sec.Printf("Restarts are counted as the worker PIDs that answered beyond the first two. Under clusterd " +
		"every failed request is a read error: one the crashing worker had accepted, or one sent on a " +
		"keep-alive connection it left behind. Under PM2 most are refused connections: Node's cluster " +
		"primary closes its listening socket while no worker is left, so new connections are refused " +
		"instead of waiting for the replacement, as they wait in the shared socket's backlog under " +
		"clusterd.\n")
	svg, perr := report.RatioPlot("Crash-prone server (1 request in 1000 kills its worker)",
		"goodput ÷ the same server's crash-free goodput", []string{"wrk, 64 keep-alive connections",
			"bench/load, 64 keep-alive connections"},
		names, series, []float64{0.5})
	if perr == nil {
		sec.Plots = append(sec.Plots, report.Plot{Name: "crash", Caption: "Scenario 5: goodput kept by a crash-prone server", SVG: svg})
	}
	return sec, errors.Join(err, perr)
}

func findRun(runs []crashRun, server string, round int) *crashRun {
	for i := range runs {
		if runs[i].Server == server && runs[i].Round == round {
			return &runs[i]
		}
	}
	return nil
}

// crashLoad runs keep-alive load for d and samples the answers every 10 ms, to tell how long
// nothing at all was answered.
func crashLoad(ctx context.Context, srv rig.Server, d time.Duration) (crashRun, error) {
	cr := crashRun{Server: srv.Label()}
	var progress atomic.Int64
	done := make(chan struct{})
	var windows, silent int
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		last := int64(0)
		end := time.Now().Add(d)
		for now := range tick.C {
			if now.After(end) {
				return
			}
			n := progress.Load()
			if last > 0 { // from the first answer on
				windows++
				if n == last {
					silent++
				}
			}
			last = n
		}
	}()
	res, err := load.Run(ctx, load.Options{Addr: srv.Addr(), Concurrency: rig.KeepAliveMode.Concurrency,
		KeepAlive: true, Duration: d, Progress: &progress, Timeout: 5 * time.Second})
	<-done
	cr.Result = res
	// Per second of issuing: requests still in flight at the end may take up to the
	// request timeout to fail, and that tail is not time the server had to serve.
	cr.Goodput = float64(res.Answered) / d.Seconds()
	if windows > 0 {
		cr.SilentTime = float64(silent) / float64(windows)
	}
	cr.Workers = len(res.ByWorker)
	return cr, err
}
