package faults

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
	"github.com/clusterd/clusterd/bench/stats"
)

// Scenario 10: SIGKILL one of two workers while load runs, and compare the second after the
// kill with a calm second before it.

const (
	killCalm  = 2 * time.Second         // load before the kill; the calm second is the last of it
	killAfter = 1500 * time.Millisecond // load after the kill; the second after is the first of it
	killProbe = 400.0                   // new-connection probes per second beside keep-alive load
)

// killWindow is what happened to requests that started in one second.
type killWindow struct {
	NewConnAnswered int              `json:"new_conn_answered"`
	NewConnP99      time.Duration    `json:"new_conn_p99_ns"`
	AllP99          time.Duration    `json:"all_p99_ns"` // every answered request of the main load
	Failed          map[string]int64 `json:"failed"`     // main load and probes, by kind
}

// killTrial is one SIGKILL of one server's worker under one load.
type killTrial struct {
	Server string `json:"server"`
	Mode   string `json:"mode"`
	Round  int    `json:"round"`
	Victim int    `json:"victim_pid"`
	// Before is the calm second before the kill, After the second after it.
	Before killWindow `json:"before"`
	After  killWindow `json:"after"`
	// Gone is how long after the SIGKILL the victim was seen gone (exited or a zombie).
	Gone time.Duration `json:"victim_gone_after_ns"`
	// InFlight counts, by kind, failed requests that ended after the kill and were not on a
	// connection opened once the victim was gone: those the killed worker had accepted, or
	// sent on its keep-alive connections. No manager can answer them.
	InFlight map[string]int64 `json:"failed_lost_with_worker"`
	// FromKill counts, by kind, failed requests on connections opened once the victim was
	// gone: what the kill cost new clients.
	FromKill map[string]int64 `json:"failed_new_conn_after_gone"`
	Ratio    float64          `json:"new_conn_p99_after_over_before"`
	Main     load.Result      `json:"main"`
	Probe    *load.Result     `json:"probe,omitempty"`
}

// killMode is a load for scenario 10. Keep-alive load opens no connection in a calm second,
// so beside it a paced stream of requests on new connections (probes) measures what a new
// client sees.
type killMode struct {
	name  string
	conc  int
	keep  bool
	probe bool
}

var killModes = []killMode{
	{fmt.Sprintf("64 keep-alive connections, with new-connection probes (%g/s)", killProbe), 64, true, true},
	{"new connection per request, 32 at a time", 32, false, false},
}

// KillUnderLoad is scenario 10: SIGKILL of one of two workers under load, because what new
// clients see in the second after a worker dies (refused, reset, slow) is the manager's
// doing, not the dead worker's.
func KillUnderLoad(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	const (
		cdDemo = "clusterd, Go demo"
		cdNode = "clusterd, Node server"
		rpDemo = "clusterd " + rig.FlagReusePort + ", Go demo"
		pm2    = "PM2, Node server"
	)
	servers := []rig.Server{
		&rig.ClusterdServer{Rig: rg, Name: cdDemo, Instances: 2, Command: []string{rg.Clusterd, "demo"}},
		&rig.ClusterdServer{Rig: rg, Name: cdNode, Instances: 2, Command: []string{rg.Node, rg.NodeScript}},
		&rig.ClusterdServer{Rig: rg, Name: rpDemo, Instances: 2, Command: []string{rg.Clusterd, "demo"}, Flags: []string{rig.FlagReusePort}},
		&rig.PM2Server{Rig: rg, Name: pm2, Instances: 2, Script: rg.NodeScript, Flags: pm2NoGiveUp},
	}
	sec.Printf("Two workers per server. bench/load runs for %v, the suite SIGKILLs one worker (by PID, "+
		"from `clusterd status` or `pm2 jlist`) and the load goes on for %v. Requests are placed in "+
		"seconds by their start: the **calm second** is the last one before the kill, the **second "+
		"after** the first one from the kill on. The figure is the p99 latency of requests on new "+
		"connections (dial included) in the second after ÷ the same in the calm second, one ratio "+
		"per trial. With keep-alive load a calm second has no new connection, so a paced stream of "+
		"requests on new connections (4 at a time, %g/s, `Connection: close`) runs beside it and "+
		"gives the figure; the keep-alive load's own p99 is in the JSON. Failures are bench/load's "+
		"kinds over the whole trial (load and probes): **refused** = connect, **reset** = read or "+
		"write (reset or closed before a whole answer), timeout, and unanswered. Resets **lost with "+
		"the worker** are requests that failed after the kill and were not on a connection opened "+
		"once the worker was gone (polled every 0.2 ms after the SIGKILL): the killed worker had "+
		"accepted them, or they were sent on its keep-alive connections, and no manager can answer "+
		"those. The goal counts the refused and reset requests on **connections opened once the "+
		"worker was gone**: what the kill must not cost new clients. %d "+
		"trial(s) per server and load, servers taking turns. The replacement must be ready before "+
		"the next trial. PM2 runs with `--max-restarts 1000000` (see scenario 5).\n",
		killCalm, killAfter, killProbe, rg.Prof.KillRounds)

	stop, err := rg.StartAll(ctx, servers...)
	if err != nil {
		return sec, err
	}
	var trials []killTrial
	err = func() error {
		for round := range rg.Prof.KillRounds {
			for _, m := range killModes {
				for k := range servers {
					srv := servers[(k+round)%len(servers)]
					kt, err := runKillTrial(ctx, rg, srv, m, round)
					trials = append(trials, kt)
					if err != nil {
						return fmt.Errorf("%s, %s: %w", srv.Label(), m.name, err)
					}
					rig.Logf("  round %d, %s, %s: new-connection p99 %s → %s (%.2f×), victim gone after %v; failed: lost with the worker %v, new connections after it was gone %v",
						round+1, srv.Label(), m.name, stats.Ms(float64(kt.Before.NewConnP99)), stats.Ms(float64(kt.After.NewConnP99)),
						kt.Ratio, kt.Gone.Round(10*time.Microsecond), kt.InFlight, kt.FromKill)
				}
			}
		}
		return nil
	}()
	err = errors.Join(err, stop())
	sec.Raw = trials

	var rows [][]string
	for _, srv := range servers {
		for _, m := range killModes {
			var ratios []float64
			var before, after []float64
			var refused, reset, timeout, unanswered, inFlight, issued int64
			fromKill := map[string]int64{}
			n := 0
			for _, kt := range trials {
				if kt.Server != srv.Label() || kt.Mode != m.name {
					continue
				}
				n++
				ratios = append(ratios, kt.Ratio)
				before = append(before, float64(kt.Before.NewConnP99))
				after = append(after, float64(kt.After.NewConnP99))
				for _, r := range []*load.Result{&kt.Main, kt.Probe} {
					if r == nil {
						continue
					}
					refused += r.Failed[load.FailConnect]
					reset += r.Failed[load.FailRead] + r.Failed[load.FailWrite]
					timeout += r.Failed[load.FailTimeout]
					unanswered += r.Unanswered
					issued += r.Issued
				}
				inFlight += kt.InFlight[load.FailRead] + kt.InFlight[load.FailWrite]
				for k, n := range kt.FromKill {
					fromKill[k] += n
				}
			}
			if n == 0 {
				continue
			}
			rs := stats.SpreadOf(ratios)
			rows = append(rows, []string{srv.Label(), m.name, strconv.Itoa(n), rs.Ratio(), stats.SpreadOf(before).Ms(), stats.SpreadOf(after).Ms(),
				fmt.Sprint(refused), fmt.Sprint(reset), fmt.Sprint(inFlight), report.FailedCell(fromKill), fmt.Sprint(timeout),
				fmt.Sprint(unanswered), fmt.Sprint(issued)})
			if !m.keep && strings.HasPrefix(srv.Label(), "clusterd") {
				sec.Goals = append(sec.Goals,
					report.Goal{What: "new-connection p99, second after a kill -9 ÷ calm second, " + srv.Label() + ", connection-close",
						Target: "≤ 2", Measured: rs.Format("%.2f"), Met: report.Judged(rs.N > 0 && rs.Median <= 2)},
					report.Goal{What: "refused + reset of new connections after a kill -9, " + srv.Label() + ", connection-close",
						Target: "0", Measured: fmt.Sprintf("%d refused, %d reset (and %d reset lost with the worker)",
							fromKill[load.FailConnect], fromKill[load.FailRead]+fromKill[load.FailWrite], inFlight),
						Met: report.Judged(fromKill[load.FailConnect]+fromKill[load.FailRead]+fromKill[load.FailWrite] == 0)})
			}
		}
	}
	sec.Table([]string{"Server", "Load", "Trials", "New-connection p99, second after ÷ calm second",
		"p99 calm second", "p99 second after", "Refused", "Reset", "Reset lost with the worker",
		"Failed on new connections once the worker was gone", "Timed out", "Unanswered", "Requests issued"}, rows)
	return sec, err
}

// runKillTrial runs one trial: load, SIGKILL of one worker, more load, then waits for the
// server to be whole again.
func runKillTrial(ctx context.Context, rg *rig.Rig, srv rig.Server, m killMode, round int) (killTrial, error) {
	kt := killTrial{Server: srv.Label(), Mode: m.name, Round: round}
	if err := rig.WaitServing(ctx, srv); err != nil {
		return kt, err
	}
	pids, err := srv.(rig.Supervised).WorkerPIDs(ctx)
	if err != nil {
		return kt, err
	}
	if len(pids) < 2 {
		return kt, fmt.Errorf("%d workers, want 2", len(pids))
	}
	kt.Victim = pids[round%len(pids)]

	stop := make(chan struct{})
	var progress atomic.Int64
	maxRun := killCalm + killAfter + 30*time.Second // a bound; stop ends it long before
	type outcome struct {
		r   load.Result
		err error
	}
	mainDone, probeDone := make(chan outcome, 1), make(chan outcome, 1)
	go func() {
		r, err := load.Run(ctx, load.Options{Addr: srv.Addr(), Concurrency: m.conc, KeepAlive: m.keep,
			Duration: maxRun, Timeout: 5 * time.Second, Stop: stop, Progress: &progress, Samples: true})
		mainDone <- outcome{r, err}
	}()
	if m.probe {
		go func() {
			r, err := load.Run(ctx, load.Options{Addr: srv.Addr(), Concurrency: 4, Rate: killProbe,
				Duration: maxRun, Timeout: 5 * time.Second, Stop: stop, Samples: true})
			probeDone <- outcome{r, err}
		}()
	}
	flowing := rig.WaitFor(ctx, 10*time.Second, 5*time.Millisecond, "load flowing to "+srv.Addr(),
		func() bool { return progress.Load() >= 100 })
	var killAt time.Time
	var killErr error
	if flowing == nil {
		time.Sleep(killCalm)
		killAt = time.Now()
		killErr = syscall.Kill(kt.Victim, syscall.SIGKILL)
		for rig.Alive(kt.Victim) && time.Since(killAt) < 2*time.Second {
			time.Sleep(200 * time.Microsecond)
		}
		kt.Gone = time.Since(killAt)
		time.Sleep(killAfter)
	}
	close(stop)
	mo := <-mainDone
	kt.Main = mo.r
	errs := []error{flowing, killErr, mo.err}
	var probe load.Result
	if m.probe {
		po := <-probeDone
		probe = po.r
		kt.Probe = &probe
		errs = append(errs, po.err)
	}
	if killAt.IsZero() {
		return kt, errors.Join(errs...)
	}

	// Windows of the main load (and the probes), by each request's start.
	kt.Before = window(&kt.Main, kt.Probe, killAt.Add(-time.Second), killAt)
	kt.After = window(&kt.Main, kt.Probe, killAt, killAt.Add(time.Second))
	kt.Ratio = math.NaN()
	kt.InFlight, kt.FromKill = map[string]int64{}, map[string]int64{}
	if kt.Before.NewConnP99 > 0 && kt.After.NewConnP99 > 0 {
		kt.Ratio = float64(kt.After.NewConnP99) / float64(kt.Before.NewConnP99)
	}
	for _, r := range []*load.Result{&kt.Main, kt.Probe} {
		if r == nil {
			continue
		}
		k, gone := killAt.Sub(r.Started), killAt.Add(kt.Gone).Sub(r.Started)
		for _, smp := range r.Samples {
			switch {
			case smp.Outcome == "":
			case smp.NewConn && smp.Start >= gone:
				kt.FromKill[smp.Outcome]++
			case smp.Start+smp.Took >= k:
				kt.InFlight[smp.Outcome]++
			}
		}
		r.Samples = nil // not kept in the report
	}
	errs = append(errs, rig.WaitServing(ctx, srv))
	return kt, errors.Join(errs...)
}

// window summarizes the requests that started within [from, to): new-connection latency from
// probe (nil: from main, whose every request then dials), main's p99, and the failures of both.
func window(main, probe *load.Result, from, to time.Time) killWindow {
	w := killWindow{Failed: map[string]int64{}}
	newConn := main
	if probe != nil {
		newConn = probe
	}
	var nc, all []time.Duration
	for _, r := range []*load.Result{main, probe} {
		if r == nil {
			continue
		}
		lo, hi := from.Sub(r.Started), to.Sub(r.Started)
		for _, smp := range r.Samples {
			switch {
			case smp.Start < lo || smp.Start >= hi:
			case smp.Outcome != "":
				w.Failed[smp.Outcome]++
			default:
				if r == newConn && smp.NewConn {
					nc = append(nc, smp.Took)
				}
				if r == main {
					all = append(all, smp.Took)
				}
			}
		}
	}
	w.NewConnAnswered = len(nc)
	w.NewConnP99 = stats.Percentile(nc, 99)
	w.AllP99 = stats.Percentile(all, 99)
	return w
}
