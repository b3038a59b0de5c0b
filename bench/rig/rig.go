// Package rig is the bench's test rig: it starts the systems under test (clusterd masters,
// bare workers sharing one socket, PM2 daemons) and stops them by PID, drives them with wrk
// or bench/load, and samples their processes in /proc. Scenarios measure with it; it knows
// nothing of what they conclude.
//
// Everything it starts runs in its own process group with a parent-death signal, is
// registered, and is stopped by PID however the run ends. It talks to loopback addresses
// only.
package rig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Profile sizes every scenario; quick proves the suite works, full is what gets committed.
// It lives with the rig so that every scenario package reads the same one, and it is
// written into the report's JSON file as it is.
type Profile struct {
	Name string `json:"name"`
	// Throughput scenarios (1, 2): rounds of one wrk run per target and load.
	Rounds   int           `json:"rounds"`
	Duration time.Duration `json:"duration_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	// Reload under load (3).
	ReloadRounds int `json:"reload_rounds"`
	Reloads      int `json:"reloads"`
	// Crash-prone server (5).
	CrashRounds   int           `json:"crash_rounds"`
	CrashDuration time.Duration `json:"crash_duration_ns"`
	// Restart latency (6).
	RestartTrials int `json:"restart_trials"`
	// Cost of the master (7).
	CostWorkers    []int         `json:"cost_workers"`
	PM2CostWorkers []int         `json:"pm2_cost_workers"`
	CostWindow     time.Duration `json:"cost_window_ns"`
	// Soak (8).
	SoakCrashes int `json:"soak_crashes"`
	SoakReloads int `json:"soak_reloads"`
	// Balance (9): rounds of one keep-alive run per server and connection count.
	BalanceRounds   int           `json:"balance_rounds"`
	BalanceDuration time.Duration `json:"balance_duration_ns"`
	// Kill -9 of one of two workers under load (10): trials per server and load.
	KillRounds int `json:"kill_rounds"`
	// Scale cycles (11): cycles of scale 4 / scale 2 per series, series per server.
	ScaleCycles int `json:"scale_cycles"`
	ScaleRounds int `json:"scale_rounds"`
}

// Rig is what every scenario needs: the tools under test and for load, resolved once to
// absolute paths so that a missing one fails before the run and not half-way through it,
// the work directory for logs, control sockets and PM2 homes, and the registry of every
// process started.
type Rig struct {
	Prof                     Profile
	Clusterd, PM2, Wrk, Node string
	Root                     string // the repository, for examples/node
	Work                     string // logs, control sockets, PM2 homes
	// NodeScript and ClusterScript are examples/node's server and its Node cluster
	// module launcher: the same app under every manager.
	NodeScript, ClusterScript string
	// FasthttpRef is bench/fasthttpref built for this run: a bare fasthttp program that
	// answers like `clusterd demo`, the reference the demo is held to.
	FasthttpRef string

	procs procs
	seq   atomic.Int64
}

// StopAll stops every process still running, SIGTERM then SIGKILL after StopGrace, so that
// nothing of one scenario runs into the next and nothing outlives the run.
func (r *Rig) StopAll() { r.procs.stopAll(StopGrace) }

// uniq makes a name unique within this run (for control sockets, PM2 homes, logs).
func (r *Rig) uniq(name string) string {
	return fmt.Sprintf("%s-%d", name, r.seq.Add(1))
}

func (r *Rig) logPath(name string) string {
	return filepath.Join(r.Work, r.uniq(strings.ReplaceAll(name, " ", "_"))+".log")
}

// Logf prints progress on stderr, time-stamped, so that a long run can be followed and a
// slow step found.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// StartAll starts servers one after the other; the returned stop stops those that started,
// also when a later one failed, so that a half-started scenario leaves nothing behind.
func (r *Rig) StartAll(ctx context.Context, servers ...Server) (stop func() error, err error) {
	var started []Server
	stop = func() error {
		var errs []error
		for _, srv := range started {
			if err := srv.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, srv := range servers {
		Logf("  starting %s", srv.Label())
		started = append(started, srv) // a half-started server still needs stopping
		if err := srv.Start(ctx); err != nil {
			return stop, errors.Join(fmt.Errorf("start %s: %w", srv.Label(), err), stop())
		}
	}
	return stop, nil
}

// WaitServing waits until a server that restarts workers has all of them back, so that a
// round starts from the same state for every server.
func WaitServing(ctx context.Context, srv Server) error {
	switch v := srv.(type) {
	case *ClusterdServer:
		return v.WaitReady(ctx, 30*time.Second)
	case *PM2Server:
		return WaitFor(ctx, 30*time.Second, 100*time.Millisecond, v.Name+": all workers online", func() bool {
			pids, err := v.WorkerPIDs(ctx)
			return err == nil && len(pids) == v.Instances
		})
	}
	return nil
}
