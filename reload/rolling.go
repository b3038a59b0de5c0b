package reload

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrAborted wraps every reason a reload stopped before replacing all slots.
var ErrAborted = errors.New("reload aborted")

// Candidate is a successor worker started for one slot.
type Candidate interface {
	// Ready is closed when the worker reports it is ready.
	Ready() <-chan struct{}
	// Exited is closed when the worker process has exited.
	Exited() <-chan struct{}
	// String names the worker in error messages, e.g. "slot 1 pid 4242".
	String() string
}

// Cluster is what a rolling reload drives.
type Cluster interface {
	// Start starts a successor for slot.
	Start(slot int) (Candidate, error)
	// Promote makes c its slot's worker and stops the worker it replaces
	// gracefully. It fails if c is no longer alive.
	Promote(c Candidate) error
	// Discard kills a successor that will not be promoted.
	Discard(c Candidate)
}

// Options are the reload's time limits.
type Options struct {
	// ListenTimeout bounds the wait for each successor's readiness.
	ListenTimeout time.Duration
	// ReadyGrace is how long a successor must stay alive after it said
	// ready before an old worker is retired on its word (docs/design.md §7).
	ReadyGrace time.Duration
	// After is time.After, replaceable by tests.
	After func(time.Duration) <-chan time.Time
}

// Rolling replaces the workers of slots one at a time. It returns nil when
// every slot was replaced, an error wrapping ErrAborted when a successor
// failed, or ctx's error when the master stopped the reload.
func Rolling(ctx context.Context, c Cluster, slots []int, o Options) error {
	after := o.After
	if after == nil {
		after = time.After
	}
	for _, slot := range slots {
		if err := replace(ctx, c, slot, o, after); err != nil {
			return err
		}
	}
	return nil
}

func replace(ctx context.Context, c Cluster, slot int, o Options, after func(time.Duration) <-chan time.Time) error {
	cand, err := c.Start(slot)
	if err != nil {
		return fmt.Errorf("%w: slot %d: starting new worker: %v", ErrAborted, slot, err)
	}
	select {
	case <-cand.Ready():
	case <-cand.Exited():
		return fmt.Errorf("%w: new worker %s exited before it was ready", ErrAborted, cand)
	case <-after(o.ListenTimeout):
		c.Discard(cand)
		return fmt.Errorf("%w: new worker %s was not ready within listen timeout %s", ErrAborted, cand, o.ListenTimeout)
	case <-ctx.Done():
		c.Discard(cand)
		return ctx.Err()
	}
	if o.ReadyGrace > 0 {
		select {
		case <-after(o.ReadyGrace):
		case <-cand.Exited():
			return fmt.Errorf("%w: new worker %s exited within %s of saying ready", ErrAborted, cand, o.ReadyGrace)
		case <-ctx.Done():
			c.Discard(cand)
			return ctx.Err()
		}
	}
	if err := c.Promote(cand); err != nil {
		return fmt.Errorf("%w: new worker %s: %v", ErrAborted, cand, err)
	}
	return nil
}
