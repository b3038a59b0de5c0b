package worker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestDrainWaitsForConnections(t *testing.T) {
	var d Drain
	d.Opened()
	d.Opened()
	if d.Draining() {
		t.Fatal("draining before Begin")
	}
	d.Begin()
	if !d.Draining() {
		t.Fatal("not draining after Begin")
	}

	waited := make(chan error)
	go func() { waited <- d.Wait(context.Background()) }()
	d.Closed()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v with a connection open", err)
	default:
	}
	d.Closed()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return when the last connection closed")
	}
	if err := d.Wait(context.Background()); err != nil {
		t.Errorf("Wait with nothing open = %v", err)
	}
}

func TestDrainWaitDeadline(t *testing.T) {
	var d Drain
	d.Opened()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := d.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want the deadline", err)
	}
	if d.Open() != 1 {
		t.Errorf("Open = %d, want 1", d.Open())
	}
}

// TestDrainConcurrent is for the race detector: connections opening and closing on many
// goroutines while others wait.
func TestDrainConcurrent(t *testing.T) {
	var d Drain
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				d.Opened()
				d.Draining()
				d.Closed()
			}
		})
		wg.Go(func() { d.Wait(context.Background()) })
	}
	d.Begin()
	wg.Wait()
	if d.Open() != 0 {
		t.Errorf("Open = %d after every connection closed", d.Open())
	}
}

func TestDrainClosedTooOften(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Closed without Opened did not panic")
		}
	}()
	var d Drain
	d.Closed()
}
