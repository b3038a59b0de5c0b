package rig

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
)

// LoadMode is a shape of load for bench/load, which accounts for every request: the load of
// every scenario where a request could be lost, which wrk would not count.
type LoadMode struct {
	Name        string `json:"name"`
	Concurrency int    `json:"concurrency"`
	KeepAlive   bool   `json:"keep_alive"`
}

// The two loads of the reload and upgrade scenarios: keep-alive connections, which a
// draining worker must close cleanly, and a new connection per request, which must never
// meet a closed socket.
var (
	KeepAliveMode = LoadMode{"64 keep-alive connections", 64, true}
	NewConnMode   = LoadMode{"new connection per request, 32 at a time", 32, false}
)

// LoadDuring runs load against addr while during runs: it waits until answers flow, calls
// during, then stops issuing requests and lets those in flight finish. Requests in flight
// are never cut (Unanswered stays 0 unless ctx ends the run). maxRun bounds the whole run.
func LoadDuring(ctx context.Context, addr string, m LoadMode, maxRun time.Duration, during func() error) (load.Result, error) {
	return LoadDuringOpts(ctx, load.Options{Addr: addr, Concurrency: m.Concurrency, KeepAlive: m.KeepAlive,
		Duration: maxRun, Timeout: 5 * time.Second}, during)
}

// LoadDuringOpts is LoadDuring with every option of the load; it sets Stop and Progress.
func LoadDuringOpts(ctx context.Context, o load.Options, during func() error) (load.Result, error) {
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
	flowing := WaitFor(ctx, 10*time.Second, 5*time.Millisecond, "load flowing to "+o.Addr,
		func() bool { return progress.Load() >= 100 })
	var err error
	if flowing == nil {
		err = during()
	}
	close(stop)
	o2 := <-done
	return o2.r, errors.Join(flowing, err, o2.err)
}

// Brief is a Result's accounting without the per-worker counts, short enough for a
// progress line.
func Brief(r load.Result) string {
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
