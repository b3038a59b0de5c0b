package worker

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
)

// WatchdogInterval returns how often the supervisor wants to hear "WATCHDOG=1"
// (WATCHDOG_USEC), like sd_watchdog_enabled(3). It returns 0, and no error, when no
// watchdog is asked for: WATCHDOG_USEC is unset, or WATCHDOG_PID is set to another process
// (the variables were inherited from a parent that was being watched). A malformed value
// is an error rather than a silent 0: a worker that quietly skips its pings would be
// killed by the master without a clue why.
func WatchdogInterval() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if pidVar := os.Getenv("WATCHDOG_PID"); pidVar != "" {
		pid, err := strconv.Atoi(pidVar)
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("worker: WATCHDOG_PID=%q is not a process id", pidVar)
		}
		if pid != os.Getpid() {
			return 0, nil
		}
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 || n > int64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0, fmt.Errorf("worker: WATCHDOG_USEC=%q is not a positive number of microseconds", usec)
	}
	return time.Duration(n) * time.Microsecond, nil
}

// A Watchdog sends "WATCHDOG=1" to the supervisor at half the interval it asked for, the
// margin sd_watchdog_enabled(3) recommends.
type Watchdog struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartWatchdog starts pinging if the supervisor asked for it (see [WatchdogInterval]) and
// returns nil otherwise; Stop on a nil *Watchdog does nothing, so callers need not check.
// The pings run until ctx ends or Stop is called. Pings that fail (the supervisor is gone)
// are dropped: there is nobody left to tell.
//
// The pings only prove that this goroutine runs. A program whose request path can wedge
// while the runtime lives should call Stop when it notices, so the supervisor replaces it.
func StartWatchdog(ctx context.Context) (*Watchdog, error) {
	interval, err := WatchdogInterval()
	if err != nil || interval == 0 {
		return nil, err
	}
	return startWatchdog(ctx, interval/2, func() { Notify("WATCHDOG=1") }), nil
}

func startWatchdog(ctx context.Context, every time.Duration, ping func()) *Watchdog {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watchdog{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			ping()
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return w
}

// Stop ends the pings. When it returns, the last ping has been sent: none follows.
// It is safe to call more than once and from several goroutines.
func (w *Watchdog) Stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}
