package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/clusterd/clusterd/bench/load"
)

// crashRate is the probability that one request kills its worker, as issue 6 sets it.
const crashRate = 0.001

// pm2NoGiveUp keeps PM2 restarting a worker that dies young: by default PM2 marks an app
// errored and stops restarting it after 16 deaths within --min-uptime (1 s) of their start,
// which a server crashing at this rate reaches in seconds. It does not change how fast PM2
// restarts a worker. clusterd needs no such flag: it tells a crash after READY from a
// failed start (DESIGN-NOTES 7).
var pm2NoGiveUp = []string{"--max-restarts", "1000000"}

// crashRun is one server's run under load.
type crashRun struct {
	Server     string      `json:"server"`
	Round      int         `json:"round"`
	Result     load.Result `json:"result"`
	Goodput    float64     `json:"goodput_per_sec"`
	SilentTime float64     `json:"silent_share"` // share of 10 ms windows without one answer
	Workers    int         `json:"worker_pids_that_answered"`
}

// crashPair is one manager with the same server crash-free and crash-prone.
type crashPair struct {
	manager       string
	free, crashes server
}

func (s *suite) crashProne(ctx context.Context) (*section, error) {
	sec := &section{}
	crashEnv := []string{fmt.Sprintf("CRASH_RATE=%g", crashRate)}
	pairs := []crashPair{
		{"clusterd, Go demo",
			&clusterdServer{s: s, name: "clusterd demo", instances: 2, command: []string{s.clusterd, "demo"}},
			&clusterdServer{s: s, name: "clusterd demo crash-prone", instances: 2,
				command: []string{s.clusterd, "demo", fmt.Sprintf("--crash-rate=%g", crashRate)}}},
		{"clusterd, Node server",
			&clusterdServer{s: s, name: "clusterd node", instances: 2, command: []string{s.node, s.nodeScript}},
			&clusterdServer{s: s, name: "clusterd node crash-prone", instances: 2,
				command: []string{s.node, s.nodeScript}, env: crashEnv}},
		{"PM2, Node server",
			&pm2Server{s: s, name: "pm2 node", instances: 2, script: s.nodeScript, flags: pm2NoGiveUp},
			&pm2Server{s: s, name: "pm2 node crash-prone", instances: 2, script: s.nodeScript,
				env: crashEnv, flags: pm2NoGiveUp}},
	}
	var servers []server
	for _, p := range pairs {
		servers = append(servers, p.free, p.crashes)
	}
	sec.printf("Each request kills its worker with probability %g (`clusterd demo --crash-rate %g`; "+
		"`CRASH_RATE=%g` for the Node server), two workers, %s from bench/load for %v, %d rounds, "+
		"the six servers interleaved. Goodput is answered requests per second; the ratio divides "+
		"the crash-prone server's goodput by the same server's crash-free goodput under the same "+
		"manager in the same round. PM2 runs with `%s`, which only stops it from giving up "+
		"(see below).\n",
		crashRate, crashRate, crashRate, keepAliveMode.Name, s.prof.CrashDuration, s.prof.CrashRounds,
		"--max-restarts 1000000")

	stop, err := s.startAll(ctx, servers...)
	if err != nil {
		return sec, err
	}
	var runs []crashRun
	err = func() error {
		for round := range s.prof.CrashRounds {
			for k := range servers {
				srv := servers[(k+round)%len(servers)]
				if err := s.waitServing(ctx, srv); err != nil {
					return err
				}
				cr, err := crashLoad(ctx, srv, s.prof.CrashDuration)
				cr.Round = round
				runs = append(runs, cr)
				logf("  round %d, %s: goodput %s/s, silent %.1f%%, %d worker pids, %s", round+1,
					srv.label(), kilo(cr.Goodput), 100*cr.SilentTime, cr.Workers, brief(cr.Result))
				if err != nil {
					return err
				}
			}
		}
		return nil
	}()
	err = errors.Join(err, stop())
	sec.raw = runs

	var rows [][]string
	var names []string
	series := map[string][]spread{}
	for _, p := range pairs {
		var ratio, failShare, restartRate, silent []float64
		for round := range s.prof.CrashRounds {
			free, crashy := findRun(runs, p.free.label(), round), findRun(runs, p.crashes.label(), round)
			if free == nil || crashy == nil {
				continue
			}
			ratio = append(ratio, crashy.Goodput/free.Goodput)
			failShare = append(failShare, float64(crashy.Result.FailedTotal()+crashy.Result.Unanswered)/float64(crashy.Result.Issued))
			restartRate = append(restartRate, float64(crashy.Workers-2)/s.prof.CrashDuration.Seconds())
			silent = append(silent, crashy.SilentTime)
		}
		r := spreadOf(ratio)
		rows = append(rows, []string{p.manager, r.ratio(), spreadOf(failShare).format("%.4f"),
			spreadOf(restartRate).format("%.0f"), spreadOf(silent).format("%.3f")})
		names = append(names, p.manager)
		series[p.manager] = []spread{r}
		if p.manager == "clusterd, Go demo" {
			sec.goals = append(sec.goals, goal{What: "goodput with --crash-rate 0.001 / crash-free, Go demo",
				Target: "well over 0.5", Measured: r.format("%.2f"), Met: judged(r.Median > 0.5)})
		} else {
			sec.goals = append(sec.goals, goal{What: "goodput crash-prone / crash-free, " + p.manager,
				Target: "(reported)", Measured: r.format("%.2f")})
		}
	}
	sec.table([]string{"Manager and server", "Goodput, crash-prone / crash-free",
		"Failed share of issued (crash-prone)", "Restarts per second survived",
		"Share of 10 ms windows with no answer"}, rows)
	sec.printf("Restarts are counted as the worker PIDs that answered beyond the first two. A failed " +
		"request here is one the crashing worker had accepted (a read error: the connection closed " +
		"without an answer), or one sent on a keep-alive connection the crashed worker left behind.\n")
	svg, perr := ratioPlot("Crash-prone server (1 request in 1000 kills its worker)",
		"goodput ÷ the same server's crash-free goodput", []string{"crash rate 0.001, 64 keep-alive connections"},
		names, series, []float64{0.5})
	if perr == nil {
		sec.plots = append(sec.plots, plotFile{"crash", "Scenario 5: goodput kept by a crash-prone server", svg})
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
func crashLoad(ctx context.Context, srv server, d time.Duration) (crashRun, error) {
	cr := crashRun{Server: srv.label()}
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
	res, err := load.Run(ctx, load.Options{Addr: srv.addr(), Concurrency: keepAliveMode.Concurrency,
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

// waitServing waits until a server that restarts workers has all of them back, so that a
// round starts from the same state for every server.
func (s *suite) waitServing(ctx context.Context, srv server) error {
	switch v := srv.(type) {
	case *clusterdServer:
		return v.waitReady(ctx, 30*time.Second)
	case *pm2Server:
		return waitFor(ctx, 30*time.Second, 100*time.Millisecond, v.name+": all workers online", func() bool {
			pids, err := v.workerPIDs(ctx)
			return err == nil && len(pids) == v.instances
		})
	}
	return nil
}
