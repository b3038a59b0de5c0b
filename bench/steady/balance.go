package steady

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
	"github.com/clusterd/clusterd/bench/stats"
)

// Scenario 9: how evenly keep-alive connections (and so requests) are dealt over the workers.
//
// A worker is named by the X-Worker-Pid header that clusterd demo and examples/node/server.js
// put on every answer; bench/load counts a connection for the worker that answered the first
// request sent on it (Result.ConnsByWorker), which is the worker that accepted it, and every
// answered request for the worker that answered it (Result.ByWorker).

// maxMin is a max/min ratio that is +Inf when a worker got nothing; JSON writes that as null.
type maxMin float64

func (m maxMin) MarshalJSON() ([]byte, error) {
	if math.IsInf(float64(m), 0) || math.IsNaN(float64(m)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(m))
}

// balanceRun is one keep-alive run against one server.
type balanceRun struct {
	Server        string           `json:"server"`
	Workers       int              `json:"workers"`
	Connections   int              `json:"connections"`
	Round         int              `json:"round"`
	PIDs          []int            `json:"worker_pids"`
	ConnsByWorker map[string]int64 `json:"conns_by_worker"`
	ReqsByWorker  map[string]int64 `json:"requests_by_worker"`
	ConnMaxMin    maxMin           `json:"conn_max_min"`
	ReqMaxMin     maxMin           `json:"request_max_min"`
	Result        load.Result      `json:"result"`
}

// spreadOfMaxMin is stats.SpreadOf that keeps +Inf (a worker that got nothing): dropping those
// rounds would hide the worst ones.
func spreadOfMaxMin(values []float64) stats.Spread { return stats.SpreadKeeping(values, true) }

// infinite writes +Inf as ∞ (a worker that got nothing).
func infinite(s string) string { return strings.ReplaceAll(s, "+Inf", "∞") }

// maxMinOver is the largest count over the smallest among the workers pids (a worker with no
// count has 0), and the counts in the order of pids.
func maxMinOver(pids []int, counts map[string]int64) (float64, []int64) {
	seen := map[string]bool{}
	var all []int64
	for _, pid := range pids {
		k := strconv.Itoa(pid)
		seen[k] = true
		all = append(all, counts[k])
	}
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if !seen[k] { // a PID the supervisor did not list (a restart): count it too
			all = append(all, counts[k])
		}
	}
	if len(all) == 0 {
		return math.NaN(), nil
	}
	hi, lo := slices.Max(all), slices.Min(all)
	if lo == 0 {
		return math.Inf(1), all
	}
	return float64(hi) / float64(lo), all
}

// balanceTarget is one server in scenario 9 and what its rows are called.
type balanceTarget struct {
	srv     rig.Server
	manager string // "clusterd, shared socket", ...
	app     string // "Node server" or "Go demo"
}

// Balance is scenario 9: how evenly connections and requests are dealt over the workers,
// because a shared socket leaves the choice to the scheduler and an uneven split wastes
// the cores of a small machine.
func Balance(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	conns := []int{64, 512}
	sec.Printf("Keep-alive load from bench/load with C connections against N workers, %d round(s) of %v "+
		"per server and C, servers taking turns (the order rotates each round). Each connection is "+
		"counted for the worker that answered its first request (the `X-Worker-Pid` header both "+
		"servers put on every answer): that is the worker that accepted it. Requests are counted by "+
		"the worker that answered them. Each cell is the **max/min** over the N workers of one round "+
		"(∞: a worker got none), median (min–max) over the rounds; 1.00 is a perfect split. A "+
		"connection whose first request was not answered is not counted for any worker. "+
		"clusterd runs with `%s` (one socket, every worker accepts from it; which one wins is the "+
		"scheduler's choice) and with `%s` (one SO_REUSEPORT socket per worker slot, held by the "+
		"master; steered over the ready slots where the kernel allows it, otherwise hashed over "+
		"every slot by the kernel's 4-tuple hash). PM2 runs the Node server in cluster mode: its "+
		"daemon accepts every connection and hands it to a worker in turn, skipping workers that "+
		"have not yet taken the previous one (Node's round-robin handle), so a burst of connects "+
		"need not split evenly.\n",
		rg.Prof.BalanceRounds, rg.Prof.BalanceDuration, rig.FlagShared, rig.FlagReusePort)

	var runs []balanceRun
	modes := map[string]string{} // the --reuseport server's socket mode, as status says
	var errs []error
	var order []balanceTarget
	for _, n := range []int{2, 4} {
		targets := []balanceTarget{
			{&rig.ClusterdServer{Rig: rg, Name: fmt.Sprintf("clusterd %s, Node, N=%d", rig.FlagShared, n), Instances: n,
				Command: []string{rg.Node, rg.NodeScript}, Flags: []string{rig.FlagShared}}, "clusterd, shared socket", "Node server"},
			{&rig.ClusterdServer{Rig: rg, Name: fmt.Sprintf("clusterd %s, Node, N=%d", rig.FlagReusePort, n), Instances: n,
				Command: []string{rg.Node, rg.NodeScript}, Flags: []string{rig.FlagReusePort}}, "clusterd, socket per slot", "Node server"},
			{&rig.PM2Server{Rig: rg, Name: fmt.Sprintf("PM2, Node, N=%d", n), Instances: n, Script: rg.NodeScript}, "PM2 (round robin)", "Node server"},
			{&rig.ClusterdServer{Rig: rg, Name: fmt.Sprintf("clusterd %s, Go demo, N=%d", rig.FlagShared, n), Instances: n,
				Command: []string{rg.Clusterd, "demo"}, Flags: []string{rig.FlagShared}}, "clusterd, shared socket", "Go demo"},
			{&rig.ClusterdServer{Rig: rg, Name: fmt.Sprintf("clusterd %s, Go demo, N=%d", rig.FlagReusePort, n), Instances: n,
				Command: []string{rg.Clusterd, "demo"}, Flags: []string{rig.FlagReusePort}}, "clusterd, socket per slot", "Go demo"},
		}
		order = append(order, targets...)
		var servers []rig.Server
		for _, t := range targets {
			servers = append(servers, t.srv)
		}
		stop, err := rg.StartAll(ctx, servers...)
		if err != nil {
			errs = append(errs, err)
			break
		}
		for _, t := range targets {
			if c, ok := t.srv.(*rig.ClusterdServer); ok && slices.Contains(c.Flags, rig.FlagReusePort) {
				modes[c.Name] = c.SocketMode(ctx)
			}
		}
		err = func() error {
			for round := range rg.Prof.BalanceRounds {
				for _, c := range conns {
					var line []string
					for k := range servers {
						srv := servers[(k+round)%len(servers)]
						br, err := measureBalance(ctx, rg, srv, n, c, round)
						runs = append(runs, br)
						if err != nil {
							return fmt.Errorf("%s, C=%d: %w", srv.Label(), c, err)
						}
						line = append(line, fmt.Sprintf("%s %s", srv.Label(), infinite(fmt.Sprintf("%.2f", float64(br.ConnMaxMin)))))
					}
					rig.Logf("  round %d/%d, N=%d C=%d, connections max/min: %s", round+1, rg.Prof.BalanceRounds, n, c, strings.Join(line, "; "))
				}
			}
			return nil
		}()
		errs = append(errs, err, stop())
		if ctx.Err() != nil {
			break
		}
	}
	sec.Raw = map[string]any{"runs": runs, "reuseport_socket_modes": modes}

	// How --reuseport served its sockets here: steered, or hashed without steering.
	reuseMode := ""
	for _, m := range modes {
		reuseMode = m
	}
	steered := strings.HasPrefix(reuseMode, "reuseport+steering")
	perSlot := "unsteered (kernel hash)"
	if steered {
		perSlot = "steered"
	}
	sec.Printf("\nHere `%s` served its address as **%s** (`clusterd status`: `%s`), so clusterd's default "+
		"(steered sockets per slot where the kernel allows it, one shared socket where it does not) is "+
		"the **%s** row.\n", rig.FlagReusePort, perSlot, reuseMode,
		map[bool]string{true: "socket per slot", false: "shared socket"}[steered])

	var rows [][]string
	for _, t := range order {
		for _, c := range conns {
			var cr, rr []float64
			var split string
			n := 0
			for _, br := range runs {
				if br.Server != t.srv.Label() || br.Connections != c {
					continue
				}
				n = br.Workers
				cr = append(cr, float64(br.ConnMaxMin))
				rr = append(rr, float64(br.ReqMaxMin))
				if split == "" {
					_, counts := maxMinOver(br.PIDs, br.ConnsByWorker)
					var parts []string
					var sum int64
					for _, x := range counts {
						parts = append(parts, strconv.FormatInt(x, 10))
						sum += x
					}
					split = strings.Join(parts, "/")
					if left := int64(br.Connections) - sum; left > 0 {
						// Their first request failed or was never answered (bench/load's
						// counts are in the JSON).
						split += fmt.Sprintf(" (+%d not counted)", left)
					}
				}
			}
			if len(cr) == 0 {
				continue
			}
			manager := t.manager
			if manager == "clusterd, socket per slot" {
				manager += ", " + perSlot
			}
			cs, rs := spreadOfMaxMin(cr), spreadOfMaxMin(rr)
			rows = append(rows, []string{manager, t.app, strconv.Itoa(n), strconv.Itoa(c),
				infinite(cs.Ratio()), infinite(rs.Ratio()), split})
			isDefault := (t.manager == "clusterd, shared socket" && !steered) || (t.manager == "clusterd, socket per slot" && steered)
			switch {
			case isDefault && n == 2 && c == 64:
				sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("connections max/min, clusterd's default (%s), %s, N=2, C=64",
					strings.TrimPrefix(manager, "clusterd, "), t.app), Target: "≤ 1.25",
					Measured: infinite(cs.Format("%.2f")), Met: report.Judged(cs.Median <= 1.25)})
			case strings.HasPrefix(t.manager, "PM2") && n == 2 && c == 64:
				sec.Goals = append(sec.Goals, report.Goal{What: "connections max/min, PM2, Node server, N=2, C=64",
					Target: "(reported; ~1.00)", Measured: infinite(cs.Format("%.2f"))})
			case t.manager == "clusterd, socket per slot" && !steered && n == 2 && c == 64:
				sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("connections max/min, clusterd %s (unsteered), %s, N=2, C=64", rig.FlagReusePort, t.app),
					Target: "(reported)", Measured: infinite(cs.Format("%.2f"))})
			}
		}
	}
	if !steered {
		why := reuseMode
		if _, after, ok := strings.Cut(reuseMode, ": "); ok {
			why = after
		}
		rows = append(rows, []string{"clusterd, socket per slot, steered", "both", "2, 4", "64, 512",
			"not available here: " + why, "not available here", "–"})
	}
	sec.Table([]string{"Manager", "Server", "N workers", "C connections", "Connections per worker, max/min",
		"Requests per worker, max/min", "Connections per worker, first round"}, rows)
	return sec, errors.Join(errs...)
}

// measureBalance drives srv with c keep-alive connections for the profile's duration.
func measureBalance(ctx context.Context, rg *rig.Rig, srv rig.Server, n, c, round int) (balanceRun, error) {
	br := balanceRun{Server: srv.Label(), Workers: n, Connections: c, Round: round}
	if err := rig.WaitServing(ctx, srv); err != nil {
		return br, err
	}
	pids, err := srv.(rig.Supervised).WorkerPIDs(ctx)
	if err != nil {
		return br, err
	}
	slices.Sort(pids)
	br.PIDs = pids
	res, err := load.Run(ctx, load.Options{Addr: srv.Addr(), Concurrency: c, KeepAlive: true,
		Duration: rg.Prof.BalanceDuration, Timeout: 5 * time.Second})
	br.Result = res
	br.ConnsByWorker, br.ReqsByWorker = res.ConnsByWorker, res.ByWorker
	cm, _ := maxMinOver(pids, res.ConnsByWorker)
	rm, _ := maxMinOver(pids, res.ByWorker)
	br.ConnMaxMin, br.ReqMaxMin = maxMin(cm), maxMin(rm)
	if err == nil && (res.FailedTotal() > 0 || res.Unanswered > 0) {
		rig.Logf("  %s, C=%d: %s", srv.Label(), c, rig.Brief(res))
	}
	if err == nil && len(pids) != n {
		err = fmt.Errorf("%d workers listed, want %d", len(pids), n)
	}
	return br, err
}
