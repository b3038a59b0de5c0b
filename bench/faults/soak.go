package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
)

// soakLoad is light background load during the soak: a new connection per request, so a
// failed request can only be one that a worker accepted and then died with (a read error);
// any other kind of failure (connect, timeout, 5xx) would be clusterd's fault.
var soakLoad = rig.LoadMode{Name: "new connection per request, 4 at a time, 500 req/s", Concurrency: 4, KeepAlive: false}

const soakRate = 500

type soakResult struct {
	Samples      map[string]rig.ProcSample `json:"master_samples"`
	Trajectory   []soakPoint               `json:"trajectory"`
	Reloads      int                       `json:"reloads"`
	ReloadErrors []string                  `json:"reload_errors,omitempty"`
	ReloadLoad   load.Result               `json:"reload_phase_load"`
	Crashes      int                       `json:"crashes"`
	CrashAnswers int                       `json:"crash_requests_answered"` // /crash that got an answer: should be 0
	CrashLoad    load.Result               `json:"crash_phase_load"`
	CrashTook    time.Duration             `json:"crash_phase_ns"`
	Restarts     int                       `json:"restarts_in_status"`
	Errored      int                       `json:"errored_slots"`
	Goroutines   int                       `json:"goroutines_after"`     // from the SIGQUIT dump
	RefGoroutine int                       `json:"goroutines_reference"` // a fresh master's, same warm-up
}

// soakPoint is the master as seen after some events.
type soakPoint struct {
	Events  int    `json:"events"` // reloads, then reloads + crashes
	RSS     uint64 `json:"rss_bytes"`
	FDs     int    `json:"fds"`
	Threads int    `json:"threads"`
}

// crashGap paces the crashes: sent back to back, a /crash would often be accepted in the
// same batch as the background requests queued while no worker was up, and take them down
// with it (measured: 2.5 failed background requests per crash). A crash every few tens of
// milliseconds is still 30 times what the crash-prone server of scenario 5 survives per
// worker.
const crashGap = 20 * time.Millisecond

// Soak is scenario 8: hundreds of reloads and a thousand crashes in a row, because a master
// meant to run for months must not leak descriptors, memory or goroutines with each.
func Soak(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	// GOTRACEBACK=all: SIGQUIT then dumps every goroutine of the master, the one way to
	// count them from outside.
	env := []string{"GOTRACEBACK=all"}
	srv := &rig.ClusterdServer{Rig: rg, Name: "clusterd soak", Instances: 2, Command: []string{rg.Clusterd, "demo"}, Env: env}
	ref := &rig.ClusterdServer{Rig: rg, Name: "clusterd soak reference", Instances: 2, Command: []string{rg.Clusterd, "demo"}, Env: env}
	sec.Printf("`clusterd -i 2 --wait-ready -- clusterd demo` under light background load from bench/load "+
		"(%s): first %d reloads in a row, then %d worker crashes (one `GET /crash` at a time, on its own "+
		"connection, %v apart: the worker that accepts it exits without answering and the master "+
		"re-forks it). The master's open fds, RSS and threads are read from /proc before, during and "+
		"after. Its goroutines are counted at the end from the stack dump that SIGQUIT makes it print "+
		"(GOTRACEBACK=all), beside those of a fresh master with the same warm-up (one reload, one crash).\n",
		soakLoad.Name, rg.Prof.SoakReloads, rg.Prof.SoakCrashes, crashGap)

	res := soakResult{Samples: map[string]rig.ProcSample{}}
	var err error
	res.RefGoroutine, err = warmAndQuit(ctx, rg, ref)
	if err != nil {
		return sec, fmt.Errorf("reference master: %w", err)
	}
	stop, err := rg.StartAll(ctx, srv)
	if err != nil {
		return sec, err
	}
	err = func() error {
		master := srv.SupervisorPID()
		sample := func(at string) error {
			smp, err := rig.SampleProc(master)
			res.Samples[at] = smp
			return err
		}
		point := func(events int) {
			if smp, err := rig.SampleProc(master); err == nil {
				res.Trajectory = append(res.Trajectory, soakPoint{events, smp.RSS, smp.FDs, smp.Threads})
			}
		}
		if err := warmUp(ctx, srv); err != nil {
			return err
		}
		if err := sample("1 before"); err != nil {
			return err
		}
		point(0)
		reloadStep := max(1, rg.Prof.SoakReloads/10)
		var err error
		res.ReloadLoad, err = loadDuringRate(ctx, srv.Addr(), func() error {
			for range rg.Prof.SoakReloads {
				res.Reloads++
				if err := srv.Reload(ctx); err != nil {
					res.ReloadErrors = append(res.ReloadErrors, err.Error())
					if ctx.Err() != nil {
						return ctx.Err()
					}
				}
				if res.Reloads%reloadStep == 0 {
					point(res.Reloads)
				}
			}
			return nil
		})
		rig.Logf("  %d reloads: %s", res.Reloads, rig.Brief(res.ReloadLoad))
		if err != nil {
			return err
		}
		if err := srv.WaitReady(ctx, 30*time.Second); err != nil {
			return err
		}
		if err := sample("2 after reloads"); err != nil {
			return err
		}
		crashStep := max(1, rg.Prof.SoakCrashes/10)
		start := time.Now()
		res.CrashLoad, err = loadDuringRate(ctx, srv.Addr(), func() error {
			for range rg.Prof.SoakCrashes {
				if err := crashOne(ctx, srv.Addr()); err != nil {
					if errors.Is(err, errAnswered) {
						res.CrashAnswers++
						continue
					}
					return err
				}
				res.Crashes++
				if res.Crashes%crashStep == 0 {
					point(res.Reloads + res.Crashes)
				}
				time.Sleep(crashGap)
			}
			return nil
		})
		res.CrashTook = time.Since(start)
		rig.Logf("  %d crashes in %v: %s", res.Crashes, res.CrashTook.Round(time.Millisecond), rig.Brief(res.CrashLoad))
		if err != nil {
			return err
		}
		if err := srv.WaitReady(ctx, 30*time.Second); err != nil {
			return err
		}
		if st, err := srv.Status(ctx); err == nil {
			for _, w := range st.Workers {
				res.Restarts += w.Restarts
				if w.State == "errored" {
					res.Errored++
				}
			}
		}
		if err := sample("3 after crashes"); err != nil {
			return err
		}
		res.Goroutines, err = srv.QuitForGoroutines()
		return err
	}()
	err = errors.Join(err, stop())
	sec.Raw = res

	var rows [][]string
	for _, at := range slices.Sorted(maps.Keys(res.Samples)) {
		smp := res.Samples[at]
		rows = append(rows, []string{at[2:], fmt.Sprint(smp.FDs), fmt.Sprintf("%.2f MiB", float64(smp.RSS)/(1<<20)),
			fmt.Sprint(smp.Threads), fmt.Sprintf("%.0f ms", float64(smp.CPU)/1e6)})
	}
	sec.Table([]string{"Master", "Open fds", "RSS", "Threads", "CPU time so far"}, rows)
	if res.Goroutines > 0 {
		sec.Printf("Goroutines of the master at the end: %d; of a fresh master after the same warm-up: %d.\n",
			res.Goroutines, res.RefGoroutine)
	}
	failures := func(r load.Result) string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Failed)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Failed[k]))
		}
		if len(parts) == 0 {
			return "0"
		}
		return fmt.Sprintf("%d (%s)", r.FailedTotal(), strings.Join(parts, ", "))
	}
	sec.Table([]string{"Phase", "Events", "Background requests issued", "Failed", "Unanswered"}, [][]string{
		{"reloads", fmt.Sprintf("%d reloads, %d failed", res.Reloads, len(res.ReloadErrors)),
			fmt.Sprint(res.ReloadLoad.Issued), failures(res.ReloadLoad), fmt.Sprint(res.ReloadLoad.Unanswered)},
		{"crashes", fmt.Sprintf("%d crashes in %v (%d /crash requests answered instead)", res.Crashes,
			res.CrashTook.Round(100*time.Millisecond), res.CrashAnswers),
			fmt.Sprint(res.CrashLoad.Issued), failures(res.CrashLoad), fmt.Sprint(res.CrashLoad.Unanswered)},
	})
	sec.Printf("After the crashes `clusterd status` counts %d restarts and %d errored slots.\n", res.Restarts, res.Errored)
	for _, e := range res.ReloadErrors {
		sec.Printf("- reload failed: `%s`\n", strings.ReplaceAll(e, "\n", " "))
	}
	for _, r := range []load.Result{res.ReloadLoad, res.CrashLoad} {
		for k, e := range r.FirstError {
			sec.Printf("- first %s error: `%s`\n", k, e)
		}
	}
	soakGoals(sec, &res)
	if len(res.Trajectory) > 1 {
		xs, ys := []float64{}, []float64{}
		for _, p := range res.Trajectory {
			xs = append(xs, float64(p.Events))
			ys = append(ys, float64(p.RSS)/(1<<20))
		}
		name := "clusterd master"
		svg, perr := report.EventPlot(fmt.Sprintf("Master RSS over %d reloads, then %d crashes", res.Reloads, res.Crashes),
			"reloads, then reloads + crashes", "RSS, MiB", name, xs, ys, float64(res.Reloads))
		if perr == nil {
			sec.Plots = append(sec.Plots, report.Plot{Name: "soak-rss", Caption: "Scenario 8: the master's RSS during the soak", SVG: svg})
		}
		err = errors.Join(err, perr)
	}
	return sec, err
}

// soakGoals judges the soak against issue 6.
func soakGoals(sec *report.Section, res *soakResult) {
	before, afterR, after := res.Samples["1 before"], res.Samples["2 after reloads"], res.Samples["3 after crashes"]
	if after.FDs > 0 && afterR.FDs > 0 {
		grew := after.FDs > before.FDs || afterR.FDs > before.FDs || after.Threads > before.Threads+2
		sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("master fds and threads after %d reloads and %d crashes", res.Reloads, res.Crashes),
			Target: "no growth", Measured: fmt.Sprintf("fds %d → %d → %d, threads %d → %d → %d", before.FDs, afterR.FDs, after.FDs,
				before.Threads, afterR.Threads, after.Threads), Met: report.Judged(!grew)})
	}
	if res.Goroutines > 0 {
		sec.Goals = append(sec.Goals, report.Goal{What: "master goroutines after the soak, vs a fresh master", Target: "no growth",
			Measured: fmt.Sprintf("%d vs %d", res.Goroutines, res.RefGoroutine), Met: report.Judged(res.Goroutines <= res.RefGoroutine+2)})
	}
	// A Go heap grows to a steady size before it stops growing; judge the second half of
	// the soak, and show the whole of it.
	if n := len(res.Trajectory); n >= 4 {
		mid, last := res.Trajectory[n/2], res.Trajectory[n-1]
		mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
		sec.Goals = append(sec.Goals, report.Goal{What: "master RSS, second half of the soak", Target: "no growth (< 1 MiB)",
			Measured: fmt.Sprintf("%.1f → %.1f MiB (%.1f at the start)", mib(mid.RSS), mib(last.RSS), mib(res.Trajectory[0].RSS)),
			Met:      report.Judged(last.RSS < mid.RSS+1<<20)})
	}
	if res.ReloadLoad.Issued > 0 {
		lost := res.ReloadLoad.FailedTotal() + res.ReloadLoad.Unanswered
		sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("failed requests during %d reloads (soak)", res.Reloads), Target: "0",
			Measured: fmt.Sprintf("%d of %d", lost, res.ReloadLoad.Issued), Met: report.Judged(lost == 0 && len(res.ReloadErrors) == 0)})
	}
	if res.CrashLoad.Issued > 0 {
		other := res.CrashLoad.FailedTotal() - res.CrashLoad.Failed[load.FailRead] + res.CrashLoad.Unanswered
		sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("failures other than the crashing worker's own, %d crashes", res.Crashes),
			Target: "0", Measured: fmt.Sprintf("%d (and %d read errors: requests the crashing worker had accepted)",
				other, res.CrashLoad.Failed[load.FailRead]), Met: report.Judged(other == 0 && res.Errored == 0)})
	}
}

// warmUp gives a master one reload and one crash, so that "before" is not a cold start.
func warmUp(ctx context.Context, srv *rig.ClusterdServer) error {
	if err := srv.Reload(ctx); err != nil {
		return fmt.Errorf("warm-up reload: %w", err)
	}
	if err := crashOne(ctx, srv.Addr()); err != nil {
		return err
	}
	return srv.WaitReady(ctx, 30*time.Second)
}

// warmAndQuit starts a fresh master, warms it up and counts its goroutines.
func warmAndQuit(ctx context.Context, rg *rig.Rig, srv *rig.ClusterdServer) (int, error) {
	stop, err := rg.StartAll(ctx, srv)
	if err == nil {
		if err = warmUp(ctx, srv); err == nil {
			var n int
			n, err = srv.QuitForGoroutines()
			return n, errors.Join(err, stop())
		}
	}
	return 0, errors.Join(err, stop())
}

// loadDuringRate runs the soak's background load while during runs.
func loadDuringRate(ctx context.Context, addr string, during func() error) (load.Result, error) {
	return rig.LoadDuringOpts(ctx, load.Options{Addr: addr, Concurrency: soakLoad.Concurrency, KeepAlive: soakLoad.KeepAlive,
		Rate: soakRate, Timeout: 5 * time.Second, Duration: time.Hour}, during)
}

var errAnswered = errors.New("/crash was answered")

// crashOne sends GET /crash on a new connection and waits until the connection ends without
// an answer, which means a worker died.
func crashOne(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("/crash: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /crash HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr); err != nil {
		return fmt.Errorf("/crash: %w", err)
	}
	n, err := io.Copy(io.Discard, conn)
	if n > 0 {
		return errAnswered
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("/crash: no worker took it within 30s")
	}
	return nil // EOF or reset: the worker is gone
}
