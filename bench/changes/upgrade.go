package changes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
	"github.com/clusterd/clusterd/bench/stats"
)

// upgradeRun is one series of master upgrades under one load.
type upgradeRun struct {
	Mode     string          `json:"mode"`
	Round    int             `json:"round"`
	Upgrades int             `json:"upgrades"`
	Failed   []string        `json:"failed,omitempty"` // upgrades that reported failure
	Times    []time.Duration `json:"upgrade_times_ns"`
	Masters  []int           `json:"master_pids"`
	// SameSocket: the listening socket's inode was the same after every
	// upgrade as before the first.
	SameSocket bool        `json:"same_socket"`
	Sockets    []uint64    `json:"socket_inodes"`
	Result     load.Result `json:"result"`
	Issued     int64       `json:"issued"`
	Lost       int64       `json:"failed_or_unanswered"`
	Brief      string      `json:"brief"`
}

// MasterUpgrade is scenario 4: `clusterd upgrade` replaces the master process with the
// binary on disk (tableflip hands the sockets over) while bench/load sends requests; every
// request is accounted for, and the listening socket must be the very same one throughout.
func MasterUpgrade(ctx context.Context, rg *rig.Rig) (*report.Section, error) {
	sec := &report.Section{}
	srv := &rig.ClusterdServer{Rig: rg, Name: "clusterd, Go demo (upgraded)", Instances: 2, Command: []string{rg.Clusterd, "demo"}}
	modes := []rig.LoadMode{rig.KeepAliveMode, rig.NewConnMode}
	sec.Printf("Two `clusterd demo` workers; %d upgrades in a row (`clusterd upgrade`, one every %v "+
		"after the previous one returned) while bench/load sends requests, %d round(s) per load. "+
		"An upgrade starts the binary on disk as a new master, hands it the listening sockets and the "+
		"control socket, waits until the new master's own workers are ready, then drains the old "+
		"master's workers and exits. bench/load never retries and accounts for every request; the "+
		"listening socket is identified by its inode in /proc/net/tcp before and after each upgrade.\n",
		rg.Prof.Reloads, reloadGap, rg.Prof.ReloadRounds)
	stop, err := rg.StartAll(ctx, srv)
	if err != nil {
		return sec, err
	}
	var runs []upgradeRun
	err = func() error {
		for round := range rg.Prof.ReloadRounds {
			for _, m := range modes {
				ur, err := upgradeSeries(ctx, rg, srv, m, round)
				runs = append(runs, ur)
				rig.Logf("  round %d, %s: %d upgrades, median %v, same socket %v, %s", round+1, m.Name,
					ur.Upgrades, stats.Percentile(ur.Times, 50).Round(time.Millisecond), ur.SameSocket, ur.Brief)
				if err != nil {
					return fmt.Errorf("%s: %w", m.Name, err)
				}
			}
		}
		return nil
	}()
	err = errors.Join(err, stop())
	sec.Raw = runs

	var rows [][]string
	for _, m := range modes {
		var upgrades, failed int
		var issued, lost int64
		var times []time.Duration
		same := true
		for _, ur := range runs {
			if ur.Mode != m.Name {
				continue
			}
			upgrades += ur.Upgrades
			failed += len(ur.Failed)
			issued += ur.Issued
			lost += ur.Lost
			times = append(times, ur.Times...)
			same = same && ur.SameSocket
			for _, f := range ur.Failed {
				sec.Printf("- %s: an upgrade failed: `%s`\n", m.Name, strings.ReplaceAll(f, "\n", " "))
			}
		}
		if upgrades == 0 {
			continue
		}
		rows = append(rows, []string{m.Name, fmt.Sprintf("%d of %d", upgrades-failed, upgrades), fmt.Sprint(issued),
			fmt.Sprint(lost), fmt.Sprintf("%.1f ppm", 1e6*float64(lost)/float64(max(issued, 1))),
			fmt.Sprint(same), stats.SpreadOfDurations(times).Ms()})
		sec.Goals = append(sec.Goals, report.Goal{What: fmt.Sprintf("failed + unanswered over %d master upgrades, %s", upgrades, m.Name),
			Target: "0, same listening socket", Measured: fmt.Sprintf("%d of %d, same socket %v", lost, issued, same),
			Met: report.Judged(lost == 0 && failed == 0 && same)})
	}
	sec.Table([]string{"Load", "Upgrades succeeded", "Requests issued", "Failed + unanswered", "Lost per million",
		"Same listening socket", "Upgrade took, median (min–max)"}, rows)
	return sec, err
}

// upgradeSeries upgrades srv's master rg.Prof.Reloads times under one load.
func upgradeSeries(ctx context.Context, rg *rig.Rig, srv *rig.ClusterdServer, m rig.LoadMode, round int) (upgradeRun, error) {
	ur := upgradeRun{Mode: m.Name, Round: round, SameSocket: true}
	port := srv.Addr()[strings.LastIndexByte(srv.Addr(), ':')+1:]
	before := listeningInodes(port)
	ur.Sockets = before
	maxRun := time.Duration(rg.Prof.Reloads)*time.Minute + time.Minute
	res, err := rig.LoadDuring(ctx, srv.Addr(), m, maxRun, func() error {
		for range rg.Prof.Reloads {
			start := time.Now()
			err := srv.Upgrade(ctx)
			ur.Times = append(ur.Times, time.Since(start))
			ur.Upgrades++
			if err != nil {
				ur.Failed = append(ur.Failed, err.Error())
				if ctx.Err() != nil {
					return ctx.Err()
				}
				continue
			}
			if st, err := srv.Status(ctx); err == nil {
				ur.Masters = append(ur.Masters, st.PID)
			}
			if now := listeningInodes(port); !slices.Equal(now, before) {
				ur.SameSocket = false
				ur.Sockets = append(ur.Sockets, now...)
			}
			time.Sleep(reloadGap)
		}
		return nil
	})
	ur.Result = res
	ur.Issued, ur.Lost, ur.Brief = res.Issued, res.FailedTotal()+res.Unanswered, rig.Brief(res)
	return ur, err
}

// listeningInodes are the inodes of the TCP sockets listening on port, from
// /proc/net/tcp and tcp6, sorted.
func listeningInodes(port string) []uint64 {
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil
	}
	hexPort := fmt.Sprintf(":%04X", p)
	var out []uint64
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		raw, _ := os.ReadFile(file)
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == "0A" && strings.HasSuffix(f[1], hexPort) {
				if ino, err := strconv.ParseUint(f[9], 10, 64); err == nil {
					out = append(out, ino)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
