package restart

import (
	"runtime"
	"time"
)

// At most MaxStarting workers start at once, and a start counts as such
// until its worker is ready, gone, or StartHold old. Starting 256 workers at
// once on 2 cores made each of them, and the first to be ready with them,
// wait for all, and left the master 1/257 of the CPU: each worker's session
// is a scheduler autogroup, which the kernel gives an equal share, so status
// waited 270 ms at p99 (docs/design.md §23). The hold bounds what a worker
// that never says READY, or waits on a database, costs the next ones.
const (
	startsPerCPU = 2
	minStarting  = 8
	StartHold    = 100 * time.Millisecond
)

// MaxStarting is how many workers may start at once: a few per CPU that Go
// may use here (GOMAXPROCS follows a cgroup's CPU quota).
func MaxStarting() int { return max(minStarting, startsPerCPU*runtime.GOMAXPROCS(0)) }

// StartWait is 0 when one more worker may start, given how long each start
// under way has lasted, or else how long until the oldest stops counting.
func StartWait(startAges []time.Duration) time.Duration {
	counted, wait := 0, StartHold
	for _, age := range startAges {
		if age < StartHold {
			counted++
			wait = min(wait, StartHold-age)
		}
	}
	if counted < MaxStarting() {
		return 0
	}
	return wait
}
