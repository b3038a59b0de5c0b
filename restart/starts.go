package restart

import (
	"runtime"
	"time"
)

// At most MaxStarting workers start at once, and a start counts as such
// until its worker is ready, gone, or StartHold old. Each worker's session is
// a scheduler autogroup, which the kernel gives an equal share of the CPU:
// with 256 workers starting at once on 2 cores the master had 1/257 of it
// and status waited 370 ms at p99, and every worker was ready only when all
// were. One start per CPU brought that to 9 ms; two per CPU left 140 ms
// (docs/design.md §23). With one worker per CPU, as -i max gives, the cap
// never holds a start back. The hold bounds what a worker that never says
// READY, or waits on a database before it does, costs the next ones.
const StartHold = 100 * time.Millisecond

// MaxStarting is how many workers may start at once: one per CPU that Go
// may use here (GOMAXPROCS follows a cgroup's CPU quota).
func MaxStarting() int { return runtime.GOMAXPROCS(0) }

// StartWait is 0 when one more worker may start, given how long each start
// under way has lasted and that at most limit may, or else how long until
// the oldest stops counting.
func StartWait(startAges []time.Duration, limit int) time.Duration {
	counted, wait := 0, StartHold
	for _, age := range startAges {
		if age < StartHold {
			counted++
			wait = min(wait, StartHold-age)
		}
	}
	if counted < limit {
		return 0
	}
	return wait
}
