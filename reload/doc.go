// Package reload is the rolling-replacement policy: for each slot, start a
// successor, wait until it says it is ready and has survived a short grace,
// then retire the slot's old worker, then the next slot.
//
// The policy never lets capacity drop: an old worker is stopped only on the
// word of a successor that is serving (docs/design.md §8). A successor that
// dies, or is not ready within the listen timeout, aborts the reload; the
// successor is discarded and the old workers that remain keep serving.
//
// The package knows nothing of processes. The master implements Cluster by
// sending requests to its event loop, so the loop stays the only owner of
// the worker table; tests drive the policy with a fake Cluster.
package reload
