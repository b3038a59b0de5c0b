package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
	"github.com/clusterd/clusterd/bench/stats"
)

// askPID sends one GET / on a new connection and returns the X-Worker-Pid of the answer.
// It never retries (net/http's client would, on a fresh connection, hiding what a trial
// has to see).
func askPID(ctx context.Context, addr string, timeout time.Duration) (int, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return strconv.Atoi(resp.Header.Get("X-Worker-Pid"))
}

// restartTrial SIGKILLs the worker that answers and measures the time until a request on
// a new connection is answered by another PID. With one worker that is its replacement.
//
// Probes start every probeEvery without waiting for each other, each on its own connection,
// and the first answer from a new PID ends the trial. Under clusterd the first probe simply
// waits in the shared socket's backlog until the new worker accepts it. Under PM2 a probe
// can be refused (Node's cluster primary closes its listening socket while no worker is
// left) or, accepted by the primary just before the worker died, never be answered at all:
// only a stream of probes sees the replacement as soon as it serves.
func restartTrial(ctx context.Context, addr string) (time.Duration, int, error) {
	old, err := askPID(ctx, addr, 5*time.Second)
	if err != nil {
		return 0, 0, fmt.Errorf("before the kill: %w", err)
	}
	const limit = 15 * time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel() // ends the probes still waiting
	start := time.Now()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		return 0, 0, fmt.Errorf("kill %d: %w", old, err)
	}
	answered := make(chan time.Duration, 1)
	failed := make(chan struct{}, 1<<14)
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		go func() {
			pid, err := askPID(ctx, addr, limit)
			switch {
			case err == nil && pid != old:
				select {
				case answered <- time.Since(start):
				default:
				}
			case err != nil && ctx.Err() == nil:
				select {
				case failed <- struct{}{}:
				default:
				}
			}
		}()
		select {
		case d := <-answered:
			return d, len(failed), nil
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return 0, len(failed), fmt.Errorf("no new worker answered within %v of killing %d", limit, old)
			}
			return 0, len(failed), ctx.Err()
		case <-tick.C:
		}
	}
}

// bareStartTrial is the physical limit of a restart (issue 15): one fork and exec of the
// worker's program, here `clusterd demo` listening by itself, until its first answer. The
// probes follow one another bareProbeGap apart, each refused at once until the process
// listens, so the figure is within bareProbeGap of the first moment it could answer.
func bareStartTrial(ctx context.Context, command []string) (time.Duration, error) {
	addr, err := rig.FreeAddr()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, command[0], append(command[1:], "--listen", addr)...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Kill() // by PID: the process this trial started
		cmd.Wait()
	}()
	for time.Since(start) < 15*time.Second {
		if pid, err := askPID(ctx, addr, 5*time.Second); err == nil && pid == cmd.Process.Pid {
			return time.Since(start), nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		time.Sleep(bareProbeGap)
	}
	return 0, fmt.Errorf("%s did not answer within 15s of its start", command[0])
}

const bareProbeGap = 200 * time.Microsecond

// probeEvery spaces the probes of a restart trial.
const probeEvery = 2 * time.Millisecond

type restartResult struct {
	Server       string          `json:"server"`
	Times        []time.Duration `json:"times_ns"`
	FailedProbes int             `json:"failed_probes"`
}

// trialGap lets a replacement settle before it is killed in turn (clusterd counts a worker
// as crashed after READY, not as a failed start; see pm2NoGiveUp for PM2).
const trialGap = 150 * time.Millisecond

// RestartLatency is scenario 6: the time from SIGKILL of the only worker to the first answer
// of its replacement, against a bare fork and exec, because that gap is what a manager adds
// to every crash.
func RestartLatency(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	const (
		cdDemo = "clusterd, Go demo"
		cdNode = "clusterd, Node server"
		pm2    = "PM2, Node server"
		bare   = "bare fork+exec of clusterd demo"
	)
	servers := []rig.Server{
		&rig.ClusterdServer{Rig: rg, Name: cdDemo, Instances: 1, Command: []string{rg.Clusterd, "demo"}},
		&rig.ClusterdServer{Rig: rg, Name: cdNode, Instances: 1, Command: []string{rg.Node, rg.NodeScript}},
		&rig.PM2Server{Rig: rg, Name: pm2, Instances: 1, Script: rg.NodeScript, Flags: pm2NoGiveUp},
	}
	sec.Printf("One worker per server (so the only PID that can answer after the kill is the "+
		"replacement). A trial asks which PID answers, SIGKILLs it, and times until a request on a "+
		"new connection is answered by a different PID: the figure includes the fork, exec and "+
		"start-up of the new worker and its first answer. Probes start every %v, each on its own "+
		"connection, without waiting for one another (under clusterd the first one waits in the "+
		"shared socket's backlog and is the one answered; under PM2 probes are refused while no "+
		"worker is left, and one accepted just before the kill may never be answered). %d trials "+
		"per server, servers taking turns, %v between trials. PM2 runs with `--max-restarts "+
		"1000000` (see scenario 5). The physical limit is measured in the same rounds: the suite "+
		"forks and execs `clusterd demo --listen ADDR` and times until its first answer, probing "+
		"back to back %v apart (refused until it listens).\n", probeEvery, rg.Prof.RestartTrials, trialGap, bareProbeGap)

	stop, err := rg.StartAll(ctx, servers...)
	if err != nil {
		return sec, err
	}
	results := map[string]*restartResult{bare: {Server: bare}}
	for _, srv := range servers {
		results[srv.Label()] = &restartResult{Server: srv.Label()}
	}
	err = func() error {
		for t := range rg.Prof.RestartTrials {
			for k := range servers {
				srv := servers[(k+t)%len(servers)]
				d, failed, err := restartTrial(ctx, srv.Addr())
				if err != nil {
					return fmt.Errorf("%s, trial %d: %w", srv.Label(), t+1, err)
				}
				r := results[srv.Label()]
				r.Times = append(r.Times, d)
				r.FailedProbes += failed
				time.Sleep(trialGap)
			}
			d, err := bareStartTrial(ctx, []string{rg.Clusterd, "demo"})
			if err != nil {
				return fmt.Errorf("%s, trial %d: %w", bare, t+1, err)
			}
			results[bare].Times = append(results[bare].Times, d)
			if (t+1)%10 == 0 || t+1 == rg.Prof.RestartTrials {
				rig.Logf("  %d/%d trials: p50 %s %v, %s %v, %s %v, %s %v", t+1, rg.Prof.RestartTrials,
					bare, stats.Percentile(results[bare].Times, 50).Round(10*time.Microsecond),
					cdDemo, stats.Percentile(results[cdDemo].Times, 50).Round(10*time.Microsecond),
					cdNode, stats.Percentile(results[cdNode].Times, 50).Round(10*time.Microsecond),
					pm2, stats.Percentile(results[pm2].Times, 50).Round(10*time.Microsecond))
			}
		}
		return nil
	}()
	err = errors.Join(err, stop())
	sec.Raw = results

	ms := func(d time.Duration) string { return stats.Ms(float64(d)) }
	var rows [][]string
	samples := map[string][]float64{}
	var names []string
	pm2p50, pm2p99 := stats.Percentile(results[pm2].Times, 50), stats.Percentile(results[pm2].Times, 99)
	for _, label := range append(serverLabels(servers), bare) {
		r := results[label]
		if len(r.Times) == 0 {
			continue
		}
		p50, p99 := stats.Percentile(r.Times, 50), stats.Percentile(r.Times, 99)
		ratio50, ratio99 := "–", "–"
		if pm2p50 > 0 {
			ratio50 = fmt.Sprintf("%.3f", float64(p50)/float64(pm2p50))
			ratio99 = fmt.Sprintf("%.3f", float64(p99)/float64(pm2p99))
		}
		rows = append(rows, []string{label, fmt.Sprint(len(r.Times)), ms(stats.Percentile(r.Times, 0)), ms(p50),
			ms(stats.Percentile(r.Times, 90)), ms(p99), ms(stats.Percentile(r.Times, 100)), ratio50, ratio99,
			fmt.Sprint(r.FailedProbes)})
		names = append(names, label)
		for _, d := range r.Times {
			samples[label] = append(samples[label], float64(d)/1e6)
		}
	}
	sec.Table([]string{"Server", "Trials", "min", "p50", "p90", "p99", "max", "p50 / PM2's p50",
		"p99 / PM2's p99", "Probes that failed"}, rows)
	if r := results[cdDemo]; len(r.Times) > 0 {
		p50 := stats.Percentile(r.Times, 50)
		sec.Goals = append(sec.Goals, report.Goal{What: "restart latency p50, Go demo", Target: "≤ 5 ms",
			Measured: ms(p50), Met: report.Judged(p50 <= 5*time.Millisecond)})
	}
	if r, b := results[cdDemo], results[bare]; len(r.Times) > 0 && len(b.Times) > 0 {
		ratio := float64(stats.Percentile(r.Times, 50)) / float64(stats.Percentile(b.Times, 50))
		sec.Goals = append(sec.Goals, report.Goal{What: "restart latency p50, Go demo / bare fork+exec to first answer (same run)",
			Target: "≤ 1.15", Measured: fmt.Sprintf("%.2f", ratio), Met: report.Judged(ratio <= 1.15)})
	}
	if r := results[cdNode]; len(r.Times) > 0 && pm2p50 > 0 {
		sec.Goals = append(sec.Goals, report.Goal{What: "restart latency p50, Node server, clusterd / PM2",
			Target: "(reported)", Measured: fmt.Sprintf("%.2f", float64(stats.Percentile(r.Times, 50))/float64(pm2p50))})
	}
	svg, perr := report.CDFPlot("Time from SIGKILL of the only worker to the first answer of its replacement",
		"milliseconds (log scale)", names, samples)
	if perr == nil {
		sec.Plots = append(sec.Plots, report.Plot{Name: "restart", Caption: "Scenario 6: restart latency, distribution over the trials", SVG: svg})
	}
	return sec, errors.Join(err, perr)
}

func serverLabels(servers []rig.Server) []string {
	labels := make([]string, len(servers))
	for i, srv := range servers {
		labels[i] = srv.Label()
	}
	return labels
}
