package changes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
	"github.com/clusterd/clusterd/bench/stats"
)

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

// ReloadUnderLoad is scenario 3: reloads in a row under load, every request accounted for,
// because a zero-downtime deploy is clusterd's first promise and PM2's best-known feature.
func ReloadUnderLoad(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	const (
		cdDemo = "clusterd, Go demo"
		cdNode = "clusterd, Node server"
		pm2    = "PM2, Node server"
	)
	servers := []rig.Server{
		&rig.ClusterdServer{Rig: rg, Name: cdDemo, Instances: 2, Command: []string{rg.Clusterd, "demo"}},
		&rig.ClusterdServer{Rig: rg, Name: cdNode, Instances: 2, Command: []string{rg.Node, rg.NodeScript}},
		&rig.PM2Server{Rig: rg, Name: pm2, Instances: 2, Script: rg.NodeScript},
	}
	modes := []rig.LoadMode{rig.KeepAliveMode, rig.NewConnMode}
	sec.Printf("Two workers each; %d reloads in a row (one every %v after the previous one returned) "+
		"while bench/load sends requests, %d round(s) per server and load, servers interleaved. "+
		"clusterd reloads with `clusterd reload` (`--wait-ready`: a new worker must send READY=1 "+
		"before an old one gets SIGTERM); PM2 with `pm2 reload` of an app started with "+
		"`--wait-ready`. bench/load never retries, and counts every request it issued as "+
		"answered (2xx), failed (by kind) or unanswered; the load stops only after the last reload "+
		"has returned and lets the requests in flight finish. The Node server drains as "+
		"docs/design.md §18 says, the same code under both managers.\n",
		rg.Prof.Reloads, reloadGap, rg.Prof.ReloadRounds)

	stop, err := rg.StartAll(ctx, servers...)
	if err != nil {
		return sec, err
	}
	var runs []reloadRun
	err = func() error {
		for round := range rg.Prof.ReloadRounds {
			for _, m := range modes {
				for k := range servers {
					srv := servers[(k+round)%len(servers)]
					rr, err := reloadSeries(ctx, rg, srv, m, round)
					runs = append(runs, rr)
					rig.Logf("  round %d, %s, %s: %d reloads, median %v, %s", round+1, srv.Label(), m.Name,
						rr.Reloads, stats.Percentile(rr.Times, 50).Round(time.Millisecond), rig.Brief(rr.Result))
					if err != nil {
						return fmt.Errorf("%s, %s: %w", srv.Label(), m.Name, err)
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
				if rr.Server != srv.Label() || rr.Mode != m.Name {
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
			rows = append(rows, []string{srv.Label(), m.Name, fmt.Sprintf("%d of %d", reloads-int64(len(aborted)), reloads),
				fmt.Sprint(issued), failedCell, fmt.Sprint(unanswered),
				fmt.Sprintf("%.1f ppm", 1e6*float64(failedTotal+unanswered)/float64(issued)),
				stats.SpreadOfDurations(times).Ms()})
			if strings.HasPrefix(srv.Label(), "clusterd") {
				sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("failed + unanswered over %d reloads, %s, %s", reloads, srv.Label(), m.Name),
					Target: "0", Measured: fmt.Sprintf("%d of %d", failedTotal+unanswered, issued),
					Met: report.Judged(failedTotal+unanswered == 0 && len(aborted) == 0)})
			}
			for k, e := range firstErr {
				sec.Printf("- %s, %s: first %s error: `%s`\n", srv.Label(), m.Name, k, e)
			}
			for _, a := range aborted {
				sec.Printf("- %s, %s: a reload failed: `%s`\n", srv.Label(), m.Name, strings.ReplaceAll(a, "\n", " "))
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

// reloadSeries reloads srv rg.Prof.Reloads times under one load.
func reloadSeries(ctx context.Context, rg *rig.Rig, srv rig.Server, m rig.LoadMode, round int) (reloadRun, error) {
	rr := reloadRun{Server: srv.Label(), Mode: m.Name, Round: round}
	r := srv.(rig.Reloader)
	maxRun := time.Duration(rg.Prof.Reloads)*(30*time.Second) + time.Minute
	res, err := rig.LoadDuring(ctx, srv.Addr(), m, maxRun, func() error {
		for range rg.Prof.Reloads {
			start := time.Now()
			err := r.Reload(ctx)
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
