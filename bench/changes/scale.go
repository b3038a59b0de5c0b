package changes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
)

// Scenario 11: `clusterd scale 4` / `clusterd scale 2`, over and over, under connection-close
// load, with the shared socket and with one unsteered SO_REUSEPORT socket per slot. Closing
// a slot's own socket on scale-down resets the connections still in its accept queue, unless
// net.ipv4.tcp_migrate_req moves them to another socket of the group.

// tcpExtCounters are the TcpExt counters of /proc/net/netstat (what `nstat -az` shows as
// TcpExtListenDrops and so on) that count connections lost at a listening socket.
var tcpExtCounters = []string{"ListenDrops", "ListenOverflows", "TCPAbortOnClose"}

// readTcpExt reads the TcpExt counters of this network namespace from /proc/net/netstat:
// a line of names and a line of values, both starting with "TcpExt:".
func readTcpExt() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return nil, err
	}
	var names []string
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "TcpExt:")
		if !ok {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		values := strings.Fields(rest)
		if len(values) != len(names) {
			return nil, fmt.Errorf("/proc/net/netstat: %d TcpExt names, %d values", len(names), len(values))
		}
		out := map[string]int64{}
		for i, n := range names {
			out[n], _ = strconv.ParseInt(values[i], 10, 64)
		}
		return out, nil
	}
	return nil, errors.New("/proc/net/netstat: no TcpExt lines")
}

// tcpExtDelta is after - before for tcpExtCounters.
func tcpExtDelta(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for _, k := range tcpExtCounters {
		d[k] = after[k] - before[k]
	}
	return d
}

// sysctlValue reads /proc/sys/NAME (dots become slashes); "unknown" if it cannot.
func sysctlValue(name string) string {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}

// scaleRun is one series of scale cycles (or its control of the same length without scaling)
// against one server.
type scaleRun struct {
	Server   string           `json:"server"`
	Mode     string           `json:"socket_mode"`
	Round    int              `json:"round"`
	Scaling  bool             `json:"scaling"` // false: the same load, as long, no scaling
	Cycles   int              `json:"cycles"`
	Took     time.Duration    `json:"took_ns"`
	Failures []string         `json:"scale_failures,omitempty"`
	Result   load.Result      `json:"result"`
	TcpExt   map[string]int64 `json:"tcpext_delta"`
}

// scaleLoad is connection-close load: every request a new connection, so every accept queue
// is in use when a slot goes away.
var scaleLoad = rig.LoadMode{Name: "new connection per request, 32 at a time", Concurrency: 32, KeepAlive: false}

// ScaleCycles is scenario 11: scale up and down under connection-close load, because closing
// a slot's own socket can reset the connections waiting in it, and the shared socket must
// not.
func ScaleCycles(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	const (
		cdDefault = "clusterd, Go demo (default sockets)"
		cdReuse   = "clusterd " + rig.FlagReusePort + ", Go demo (control)"
	)
	servers := []*rig.ClusterdServer{
		{Rig: rg, Name: cdDefault, Instances: 2, Command: []string{rg.Clusterd, "demo"}},
		{Rig: rg, Name: cdReuse, Instances: 2, Command: []string{rg.Clusterd, "demo"}, Flags: []string{rig.FlagReusePort}},
	}
	migrate := sysctlValue("net.ipv4.tcp_migrate_req")
	sec.Printf("`clusterd -i 2 -- clusterd demo`, then %d cycles of `clusterd scale 4` and `clusterd scale 2` "+
		"(each waits until exactly that many workers are ready, the surplus ones drained and gone) while "+
		"bench/load sends requests, %s; %d round(s) per server, servers taking turns. Right after each "+
		"series the same load runs as long again without scaling, a baseline for what else the "+
		"machine does: the TcpExt counters ListenDrops, ListenOverflows and TCPAbortOnClose (read from "+
		"/proc/net/netstat before and after each run; `nstat -az` shows the same) count for the whole "+
		"network namespace, not for one server. The control server runs with `%s`: one SO_REUSEPORT "+
		"socket per slot, without steering where the kernel refuses it. Its scale-down closes the "+
		"removed slot's socket, and the connections waiting in that socket's queue are reset unless "+
		"`net.ipv4.tcp_migrate_req=1` moves them to another socket of the group. Here "+
		"**net.ipv4.tcp_migrate_req = %s**. A connection reset while still in the handshake fails "+
		"as a connect error (\"connection reset by peer\"), one reset in the accept queue as a read "+
		"error.\n\n",
		rg.Prof.ScaleCycles, scaleLoad.Name, rg.Prof.ScaleRounds, rig.FlagReusePort, migrate)

	var generic []rig.Server
	for _, c := range servers {
		generic = append(generic, c)
	}
	stop, err := rg.StartAll(ctx, generic...)
	if err != nil {
		return sec, err
	}
	modes := map[string]string{}
	for _, c := range servers {
		modes[c.Name] = c.SocketMode(ctx)
	}
	var runs []scaleRun
	err = func() error {
		for round := range rg.Prof.ScaleRounds {
			for k := range servers {
				c := servers[(k+round)%len(servers)]
				sr, err := scaleSeries(ctx, rg, c, round, true, 0)
				sr.Mode = modes[c.Name]
				runs = append(runs, sr)
				rig.Logf("  round %d, %s: %d cycles in %v, %s, TcpExt Δ %v", round+1, c.Name, sr.Cycles,
					sr.Took.Round(time.Millisecond), rig.Brief(sr.Result), sr.TcpExt)
				if err != nil {
					return fmt.Errorf("%s: %w", c.Name, err)
				}
				ctl, err := scaleSeries(ctx, rg, c, round, false, sr.Took)
				ctl.Mode = modes[c.Name]
				runs = append(runs, ctl)
				rig.Logf("  round %d, %s, baseline without scaling: %s, TcpExt Δ %v", round+1, c.Name,
					rig.Brief(ctl.Result), ctl.TcpExt)
				if err != nil {
					return fmt.Errorf("%s, baseline: %w", c.Name, err)
				}
			}
		}
		return nil
	}()
	err = errors.Join(err, stop())
	sec.Raw = map[string]any{"tcp_migrate_req": migrate, "socket_modes": modes, "runs": runs}

	var rows [][]string
	for _, c := range servers {
		for _, scaling := range []bool{true, false} {
			var cycles int
			var res load.Result
			res.Failed = map[string]int64{}
			counters := map[string]int64{}
			var failures []string
			firstErr := map[string]string{}
			for _, sr := range runs {
				if sr.Server != c.Name || sr.Scaling != scaling {
					continue
				}
				cycles += sr.Cycles
				res.Issued += sr.Result.Issued
				res.Answered += sr.Result.Answered
				res.Unanswered += sr.Result.Unanswered
				for k, n := range sr.Result.Failed {
					res.Failed[k] += n
				}
				for k, e := range sr.Result.FirstError {
					if firstErr[k] == "" {
						firstErr[k] = e
					}
				}
				for k, n := range sr.TcpExt {
					counters[k] += n
				}
				failures = append(failures, sr.Failures...)
			}
			if res.Issued == 0 {
				continue
			}
			what := fmt.Sprintf("%d scale cycles", cycles)
			perCycle := "–"
			if !scaling {
				what = "baseline: same load, as long, no scaling"
			} else if cycles > 0 {
				perCycle = fmt.Sprintf("%.1f", float64(res.FailedTotal()+res.Unanswered)/float64(cycles))
			}
			reset := res.Failed[load.FailRead] + res.Failed[load.FailWrite]
			row := []string{c.Name, "`" + modes[c.Name] + "`", what, fmt.Sprint(res.Issued), report.FailedCell(res.Failed),
				fmt.Sprint(reset), perCycle, fmt.Sprint(res.Unanswered)}
			for _, k := range tcpExtCounters {
				row = append(row, fmt.Sprint(counters[k]))
			}
			rows = append(rows, row)
			for _, k := range slices.Sorted(maps.Keys(firstErr)) {
				sec.Printf("- %s, %s: first %s error: `%s`\n", c.Name, what, k, firstErr[k])
			}
			for _, f := range failures {
				sec.Printf("- %s: a scale failed: `%s`\n", c.Name, strings.ReplaceAll(f, "\n", " "))
			}
			if scaling {
				target, met := "0", report.Judged(res.FailedTotal()+res.Unanswered == 0 && len(failures) == 0)
				if c.Name == cdReuse {
					target, met = "(control; resets expected unless tcp_migrate_req=1)", nil
				}
				sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("failed + unanswered over %d scale cycles, %s", cycles, c.Name),
					Target: target, Measured: fmt.Sprintf("%d of %d (%d reset); ListenDrops %d, ListenOverflows %d, TCPAbortOnClose %d",
						res.FailedTotal()+res.Unanswered, res.Issued, reset, counters["ListenDrops"], counters["ListenOverflows"],
						counters["TCPAbortOnClose"]), Met: met})
			}
		}
	}
	sec.Table(append([]string{"Server", "Socket mode (`clusterd status`)", "Run", "Requests issued", "Failed",
		"Reset (read or write)", "Failed per scale-down", "Unanswered"}, deltaHeaders()...), rows)
	return sec, err
}

func deltaHeaders() []string {
	var h []string
	for _, k := range tcpExtCounters {
		h = append(h, k+" Δ")
	}
	return h
}

// scaleSeries runs the profile's scale cycles under load, or, without scaling, the same load
// for d; it reads the TcpExt counters around the whole run.
func scaleSeries(ctx context.Context, rg *rig.Rig, c *rig.ClusterdServer, round int, scaling bool, d time.Duration) (scaleRun, error) {
	sr := scaleRun{Server: c.Name, Round: round, Scaling: scaling}
	if err := c.WaitReady(ctx, 30*time.Second); err != nil {
		return sr, err
	}
	before, err := readTcpExt()
	if err != nil {
		return sr, err
	}
	maxRun := time.Duration(rg.Prof.ScaleCycles)*2*time.Minute + time.Minute
	start := time.Now()
	res, err := rig.LoadDuring(ctx, c.Addr(), scaleLoad, maxRun, func() error {
		if !scaling {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}
		for range rg.Prof.ScaleCycles {
			for _, n := range []int{4, 2} {
				if err := c.Scale(ctx, n); err != nil {
					sr.Failures = append(sr.Failures, fmt.Sprintf("scale %d: %v", n, err))
					if ctx.Err() != nil {
						return ctx.Err()
					}
					// Whatever happened, the next cycle starts from 2 ready workers.
					if err := c.WaitReady(ctx, time.Minute); err != nil {
						return err
					}
				}
			}
			sr.Cycles++
		}
		return nil
	})
	sr.Took = time.Since(start)
	sr.Result = res
	after, rerr := readTcpExt()
	if rerr == nil {
		sr.TcpExt = tcpExtDelta(before, after)
	}
	return sr, errors.Join(err, rerr)
}
