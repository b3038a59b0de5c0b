package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/stats"
)

// loadMode is a shape of load for bench/load, which accounts for every request.
type loadMode struct {
	Name        string `json:"name"`
	Concurrency int    `json:"concurrency"`
	KeepAlive   bool   `json:"keep_alive"`
}

var (
	keepAliveMode = loadMode{"64 keep-alive connections", 64, true}
	newConnMode   = loadMode{"new connection per request, 32 at a time", 32, false}
)

// loadDuring runs load against addr while during runs: it waits until answers flow, calls
// during, then stops issuing requests and lets those in flight finish. Requests in flight
// are never cut (Unanswered stays 0 unless ctx ends the run). maxRun bounds the whole run.
func loadDuring(ctx context.Context, addr string, m loadMode, maxRun time.Duration, during func() error) (load.Result, error) {
	return loadDuringOpts(ctx, load.Options{Addr: addr, Concurrency: m.Concurrency, KeepAlive: m.KeepAlive,
		Duration: maxRun, Timeout: 5 * time.Second}, during)
}

// loadDuringOpts is loadDuring with every option of the load; it sets Stop and Progress.
func loadDuringOpts(ctx context.Context, o load.Options, during func() error) (load.Result, error) {
	var progress atomic.Int64
	stop := make(chan struct{})
	o.Stop, o.Progress = stop, &progress
	type outcome struct {
		r   load.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := load.Run(ctx, o)
		done <- outcome{r, err}
	}()
	flowing := waitFor(ctx, 10*time.Second, 5*time.Millisecond, "load flowing to "+o.Addr,
		func() bool { return progress.Load() >= 100 })
	var err error
	if flowing == nil {
		err = during()
	}
	close(stop)
	o2 := <-done
	return o2.r, errors.Join(flowing, err, o2.err)
}

// reloadRun is one server's series of reloads under one load mode.
type reloadRun struct {
	Server   string          `json:"server"`
	Mode     string          `json:"mode"`
	Round    int             `json:"round"`
	Reloads  int             `json:"reloads"`
	Aborted  []string        `json:"aborted,omitempty"` // reloads that reported failure
	Times    []time.Duration `json:"reload_times_ns"`
	Result   load.Result     `json:"result"`
	Answered int             `json:"worker_pids_that_answered"`
}

// reloadGap separates reloads: a deploy every few hundred milliseconds is already far more
// than any real one, and each reload starts from balanced workers.
const reloadGap = 200 * time.Millisecond

func (s *suite) reloadUnderLoad(ctx context.Context) (*report.Section, error) {
	sec := &report.Section{}
	const (
		cdDemo = "clusterd, Go demo"
		cdNode = "clusterd, Node server"
		pm2    = "PM2, Node server"
	)
	servers := []server{
		&clusterdServer{s: s, name: cdDemo, instances: 2, command: []string{s.clusterd, "demo"}},
		&clusterdServer{s: s, name: cdNode, instances: 2, command: []string{s.node, s.nodeScript}},
		&pm2Server{s: s, name: pm2, instances: 2, script: s.nodeScript},
	}
	modes := []loadMode{keepAliveMode, newConnMode}
	sec.Printf("Two workers each; %d reloads in a row (one every %v after the previous one returned) "+
		"while bench/load sends requests, %d round(s) per server and load, servers interleaved. "+
		"clusterd reloads with `clusterd reload` (`--wait-ready`: a new worker must send READY=1 "+
		"before an old one gets SIGTERM); PM2 with `pm2 reload` of an app started with "+
		"`--wait-ready`. bench/load never retries, and counts every request it issued as "+
		"answered (2xx), failed (by kind) or unanswered; the load stops only after the last reload "+
		"has returned and lets the requests in flight finish. The Node server drains as "+
		"docs/design.md §18 says, the same code under both managers.\n",
		s.prof.Reloads, reloadGap, s.prof.ReloadRounds)

	stop, err := s.startAll(ctx, servers...)
	if err != nil {
		return sec, err
	}
	var runs []reloadRun
	err = func() error {
		for round := range s.prof.ReloadRounds {
			for _, m := range modes {
				for k := range servers {
					srv := servers[(k+round)%len(servers)]
					rr, err := s.reloadSeries(ctx, srv, m, round)
					runs = append(runs, rr)
					logf("  round %d, %s, %s: %d reloads, median %v, %s", round+1, srv.label(), m.Name,
						rr.Reloads, stats.Percentile(rr.Times, 50).Round(time.Millisecond), brief(rr.Result))
					if err != nil {
						return fmt.Errorf("%s, %s: %w", srv.label(), m.Name, err)
					}
				}
			}
		}
		return nil
	}()
	err = errors.Join(err, stop())
	sec.Raw = runs

	var rows [][]string
	for _, srv := range servers {
		for _, m := range modes {
			var issued, answered, unanswered, reloads int64
			failed := map[string]int64{}
			firstErr := map[string]string{}
			var times []time.Duration
			var aborted []string
			pids := 0
			for _, rr := range runs {
				if rr.Server != srv.label() || rr.Mode != m.Name {
					continue
				}
				issued += rr.Result.Issued
				answered += rr.Result.Answered
				unanswered += rr.Result.Unanswered
				reloads += int64(rr.Reloads)
				for k, n := range rr.Result.Failed {
					failed[k] += n
				}
				for k, e := range rr.Result.FirstError {
					if firstErr[k] == "" {
						firstErr[k] = e
					}
				}
				times = append(times, rr.Times...)
				aborted = append(aborted, rr.Aborted...)
				pids += rr.Answered
			}
			if issued == 0 {
				continue
			}
			var failedTotal int64
			var kinds []string
			for _, k := range slices.Sorted(maps.Keys(failed)) {
				failedTotal += failed[k]
				kinds = append(kinds, fmt.Sprintf("%s %d", k, failed[k]))
			}
			failedCell := fmt.Sprint(failedTotal)
			if len(kinds) > 0 {
				failedCell += " (" + strings.Join(kinds, ", ") + ")"
			}
			rows = append(rows, []string{srv.label(), m.Name, fmt.Sprintf("%d of %d", reloads-int64(len(aborted)), reloads),
				fmt.Sprint(issued), failedCell, fmt.Sprint(unanswered),
				fmt.Sprintf("%.1f ppm", 1e6*float64(failedTotal+unanswered)/float64(issued)),
				stats.SpreadOfDurations(times).Ms()})
			if strings.HasPrefix(srv.label(), "clusterd") {
				sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("failed + unanswered over %d reloads, %s, %s", reloads, srv.label(), m.Name),
					Target: "0", Measured: fmt.Sprintf("%d of %d", failedTotal+unanswered, issued),
					Met: report.Judged(failedTotal+unanswered == 0 && len(aborted) == 0)})
			}
			for k, e := range firstErr {
				sec.Printf("- %s, %s: first %s error: `%s`\n", srv.label(), m.Name, k, e)
			}
			for _, a := range aborted {
				sec.Printf("- %s, %s: a reload failed: `%s`\n", srv.label(), m.Name, strings.ReplaceAll(a, "\n", " "))
			}
		}
	}
	sec.Table([]string{"Server", "Load", "Reloads succeeded", "Requests issued", "Failed", "Unanswered",
		"Lost per million", "Reload took, median (min–max)"}, rows)
	// How long a reload of the same Node server takes under each manager, same run.
	for _, m := range modes {
		var cd, pm []time.Duration
		for _, rr := range runs {
			if rr.Mode != m.Name {
				continue
			}
			switch rr.Server {
			case cdNode:
				cd = append(cd, rr.Times...)
			case pm2:
				pm = append(pm, rr.Times...)
			}
		}
		if len(cd) > 0 && len(pm) > 0 {
			r := float64(stats.Percentile(cd, 50)) / float64(stats.Percentile(pm, 50))
			sec.Goals = append(sec.Goals, report.Goal{What: "reload time of the Node server, clusterd / PM2, " + m.Name,
				Target: "(reported)", Measured: fmt.Sprintf("%.2f (medians of %d and %d reloads)", r, len(cd), len(pm))})
		}
	}
	return sec, err
}

// reloadSeries reloads srv prof.Reloads times under one load.
func (s *suite) reloadSeries(ctx context.Context, srv server, m loadMode, round int) (reloadRun, error) {
	rr := reloadRun{Server: srv.label(), Mode: m.Name, Round: round}
	r := srv.(reloader)
	maxRun := time.Duration(s.prof.Reloads)*(30*time.Second) + time.Minute
	res, err := loadDuring(ctx, srv.addr(), m, maxRun, func() error {
		for range s.prof.Reloads {
			start := time.Now()
			err := r.reload(ctx)
			rr.Times = append(rr.Times, time.Since(start))
			rr.Reloads++
			if err != nil {
				rr.Aborted = append(rr.Aborted, err.Error())
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
			time.Sleep(reloadGap)
		}
		return nil
	})
	rr.Result = res
	rr.Answered = len(res.ByWorker)
	return rr, err
}

// brief is a Result's accounting without the per-worker counts.
func brief(r load.Result) string {
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(r.Failed)) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, r.Failed[k]))
	}
	failed := ""
	if len(kinds) > 0 {
		failed = " (" + strings.Join(kinds, ", ") + ")"
	}
	return fmt.Sprintf("issued %d answered %d failed %d%s unanswered %d, %d worker pids answered",
		r.Issued, r.Answered, r.FailedTotal(), failed, r.Unanswered, len(r.ByWorker))
}
