package worker

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	other := strconv.Itoa(os.Getpid() + 1)
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
		wantErr         string
	}{
		{name: "not asked", want: 0},
		{name: "asked", usec: "30000000", want: 30 * time.Second},
		{name: "asked of us", usec: "500000", pid: self, want: 500 * time.Millisecond},
		{name: "asked of another process", usec: "500000", pid: other, want: 0},
		{name: "malformed", usec: "30s", wantErr: `WATCHDOG_USEC="30s"`},
		{name: "zero", usec: "0", wantErr: `WATCHDOG_USEC="0"`},
		{name: "malformed pid", usec: "500000", pid: "me", wantErr: `WATCHDOG_PID="me"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			got, err := WatchdogInterval()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, %v; want an error mentioning %s", got, err, tc.wantErr)
				}
				return
			}
			if got != tc.want || err != nil {
				t.Errorf("got %v, %v; want %v, nil", got, err, tc.want)
			}
		})
	}
}

// TestWatchdogPingsUntilStopped checks the whole path: WATCHDOG_USEC, pings at half the
// interval over NOTIFY_SOCKET, and none after Stop returns.
func TestWatchdogPingsUntilStopped(t *testing.T) {
	const addr = "@clusterd-test-watchdog"
	sock := listenNotify(t, addr+strconv.Itoa(os.Getpid()))
	t.Setenv("NOTIFY_SOCKET", addr+strconv.Itoa(os.Getpid()))
	t.Setenv("WATCHDOG_USEC", "20000") // 20ms: pings every 10ms
	t.Setenv("WATCHDOG_PID", "")

	w, err := StartWatchdog(context.Background())
	if err != nil || w == nil {
		t.Fatalf("StartWatchdog = %v, %v", w, err)
	}
	for range 3 {
		if got := receive(t, sock); got != "WATCHDOG=1" {
			t.Fatalf("received %q, want WATCHDOG=1", got)
		}
	}
	w.Stop()
	w.Stop() // idempotent

	// Every ping sent before Stop returned is queued ahead of this marker.
	if _, err := Notify("MARK"); err != nil {
		t.Fatal(err)
	}
	for receive(t, sock) != "MARK" {
	}
	if got := receiveWithin(t, sock, 50*time.Millisecond, false); got != "" {
		t.Errorf("received %q after Stop returned", got)
	}
}

func TestWatchdogEndsWithContext(t *testing.T) {
	pings := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	w := startWatchdog(ctx, time.Millisecond, func() { pings <- struct{}{} })
	<-pings
	cancel()
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		t.Fatal("pinger still running after its context ended")
	}
}

func TestWatchdogNotAsked(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	w, err := StartWatchdog(context.Background())
	if w != nil || err != nil {
		t.Fatalf("StartWatchdog = %v, %v; want nil, nil", w, err)
	}
	w.Stop() // a nil Watchdog stops fine
}
