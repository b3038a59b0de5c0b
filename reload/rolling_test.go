package reload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeWorker is a successor whose fate the test decides up front.
type fakeWorker struct {
	slot   int
	ready  chan struct{}
	exited chan struct{}
}

func (w *fakeWorker) Ready() <-chan struct{}  { return w.ready }
func (w *fakeWorker) Exited() <-chan struct{} { return w.exited }
func (w *fakeWorker) String() string          { return fmt.Sprintf("slot %d", w.slot) }

// fate says what a successor for a slot does.
type fate int

const (
	becomesReady fate = iota
	neverReady
	diesBeforeReady
	diesInGrace
	failsToStart
)

type fakeCluster struct {
	fates   map[int]fate
	current fate        // the fate of the successor started last
	last    *fakeWorker // the successor started last
	log     []string
}

func (c *fakeCluster) Start(slot int) (Candidate, error) {
	c.log = append(c.log, fmt.Sprintf("start %d", slot))
	c.current = c.fates[slot]
	w := &fakeWorker{slot: slot, ready: make(chan struct{}), exited: make(chan struct{})}
	switch c.fates[slot] {
	case becomesReady:
		close(w.ready)
	case diesBeforeReady:
		close(w.exited)
	case diesInGrace:
		close(w.ready) // and exits once the grace starts: see after
	case failsToStart:
		return nil, errors.New("fork: resource temporarily unavailable")
	}
	c.last = w
	return w, nil
}

func (c *fakeCluster) Promote(cand Candidate) error {
	c.log = append(c.log, "promote "+cand.String())
	return nil
}

func (c *fakeCluster) Discard(cand Candidate) {
	c.log = append(c.log, "discard "+cand.String())
}

var (
	fired = func() chan time.Time { c := make(chan time.Time); close(c); return c }()
	never chan time.Time
)

// after fires a timer at once exactly when the fate of the current
// successor needs it (so no select has two ready cases): the listen timeout
// for one that is never ready, the grace for every one that does not die in it.
func (c *fakeCluster) after(d time.Duration) <-chan time.Time {
	if d == listenTimeout {
		if c.current == neverReady {
			return fired
		}
		return never
	}
	if c.current == diesInGrace {
		close(c.last.exited)
		return never
	}
	return fired
}

const listenTimeout = time.Second

func TestRolling(t *testing.T) {
	cases := []struct {
		name    string
		fates   map[int]fate
		wantLog string
		wantErr string
	}{
		{"all ready", nil, "start 0,promote slot 0,start 1,promote slot 1,start 2,promote slot 2", ""},
		{"second never ready", map[int]fate{1: neverReady}, "start 0,promote slot 0,start 1,discard slot 1", "not ready within listen timeout 1s"},
		{"second dies", map[int]fate{1: diesBeforeReady}, "start 0,promote slot 0,start 1", "exited before it was ready"},
		{"first dies in grace", map[int]fate{0: diesInGrace}, "start 0", "exited within 100ms of saying ready"},
		{"fork fails", map[int]fate{2: failsToStart}, "start 0,promote slot 0,start 1,promote slot 1,start 2", "starting new worker: fork"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCluster{fates: tc.fates}
			err := Rolling(context.Background(), c, []int{0, 1, 2}, Options{
				ListenTimeout: listenTimeout, ReadyGrace: 100 * time.Millisecond, After: c.after,
			})
			if got := strings.Join(c.log, ","); got != tc.wantLog {
				t.Errorf("steps = %s\nwant    %s", got, tc.wantLog)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrAborted containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRollingStopsWhenMasterStops(t *testing.T) {
	c := &fakeCluster{fates: map[int]fate{0: neverReady}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Rolling(ctx, c, []int{0}, Options{ListenTimeout: time.Hour, After: func(time.Duration) <-chan time.Time { return never }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := strings.Join(c.log, ","); got != "start 0,discard slot 0" {
		t.Fatalf("steps = %s: a successor left behind by a stopped reload must be discarded", got)
	}
}
