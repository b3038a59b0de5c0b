package restart

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var policy = Policy{RestartDelay: 100 * time.Millisecond, MaxRestartDelay: time.Second, MaxRestarts: 3}

// TestCrashIsReplacedAtOnce: a worker that was ready and died after a
// while crashed under load: no wait, and no failed start counted.
func TestCrashIsReplacedAtOnce(t *testing.T) {
	var r Record
	for range 5 {
		d := policy.AfterDeath(&r, Death{WasReady: true, SinceReady: time.Minute, Uptime: time.Minute, ExitCode: 2})
		if d != (Decision{Action: Restart, Kind: Crash}) {
			t.Fatalf("crash: %+v", d)
		}
	}
	if r.FailedStarts != 0 {
		t.Errorf("crashes counted as failed starts: %d", r.FailedStarts)
	}
}

// TestFailedStartsBackOffThenError: deaths before ready wait 100ms, 200ms,
// 400ms, then the slot is errored; a readiness in between starts over.
func TestFailedStartsBackOffThenError(t *testing.T) {
	var r Record
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		d := policy.AfterDeath(&r, Death{Uptime: time.Millisecond, ExitCode: 1})
		if d.Action != Restart || d.Kind != FailedStart || d.Delay != want {
			t.Fatalf("failed start %d: %+v, want a restart after %s", i+1, d, want)
		}
	}
	if d := policy.AfterDeath(&r, Death{ExitCode: 1}); d.Action != Errored {
		t.Fatalf("fourth failed start: %+v, want the slot errored", d)
	}
	before := r.Ready()
	if before != 4 || r.FailedStarts != 0 {
		t.Fatalf("Ready: returned %d, left %d; want 4 and 0", before, r.FailedStarts)
	}
	r.Unready(before)
	if r.FailedStarts != 4 {
		t.Fatalf("Unready did not restore the count: %d", r.FailedStarts)
	}
	r.Reset()
	if d := policy.AfterDeath(&r, Death{ExitCode: 1}); d.Delay != 100*time.Millisecond {
		t.Errorf("after a reset: %+v, want the first delay again", d)
	}
}

// TestReadyThenDieIsACrashLoop: READY then death within the window, three
// times in a row, backs off up to a second (never errored), announced the
// first time and every hundredth; one worker that lives longer ends it.
func TestReadyThenDieIsACrashLoop(t *testing.T) {
	var r Record
	quick := Death{WasReady: true, SinceReady: time.Millisecond, Uptime: 5 * time.Millisecond}
	var announced []int
	for i := 1; i <= 200; i++ {
		d := policy.AfterDeath(&r, quick)
		if i < CrashLoopBurst {
			if d.Kind != Crash || d.Delay != 0 {
				t.Fatalf("death %d: %+v, want an immediate restart", i, d)
			}
			continue
		}
		if d.Kind != CrashLoop || d.Action != Restart || d.Delay <= 0 || d.Delay > CrashLoopMaxDelay {
			t.Fatalf("death %d: %+v, want a crash loop back-off within (0, %s]", i, d, CrashLoopMaxDelay)
		}
		if d.Announce {
			announced = append(announced, i)
		}
	}
	if fmt.Sprint(announced) != "[3 100 200]" {
		t.Errorf("announced at deaths %v, want [3 100 200]", announced)
	}
	if d := policy.AfterDeath(&r, Death{WasReady: true, SinceReady: time.Second, Uptime: time.Second}); d.Kind != Crash || d.Delay != 0 {
		t.Errorf("a worker that lived: %+v, want an immediate restart", d)
	}
}

// TestExpBackoffLikePM2: every death waits, 1.5× per death in a row up to
// 15 s; a worker up for 30 s starts the series again.
func TestExpBackoffLikePM2(t *testing.T) {
	p := policy
	p.ExpBackoff = 100 * time.Millisecond
	var r Record
	var got []time.Duration
	for range 12 {
		got = append(got, p.AfterDeath(&r, Death{WasReady: true, SinceReady: time.Second, Uptime: time.Second}).Delay)
	}
	want := []float64{100, 150, 225, 337.5, 506.25}
	for i, w := range want {
		if got[i] != time.Duration(w*float64(time.Millisecond)) {
			t.Fatalf("waits %v, want them to start %v ms", got, want)
		}
	}
	if last := got[len(got)-1]; last > 15*time.Second {
		t.Errorf("wait %s beyond the 15 s cap", last)
	}
	if d := p.AfterDeath(&r, Death{WasReady: true, SinceReady: time.Minute, Uptime: time.Minute}); d.Delay != 100*time.Millisecond {
		t.Errorf("after 30 s up: %+v, want the series to start again", d)
	}
}

// TestExitsOnPurposeAreNotRestarted: --no-autorestart and stop exit codes.
func TestExitsOnPurposeAreNotRestarted(t *testing.T) {
	p := policy
	p.StopExitCodes = []int{0, 64}
	var r Record
	if d := p.AfterDeath(&r, Death{WasReady: true, SinceReady: time.Minute, ExitCode: 64}); d.Action != Stop || d.Why != "exit code 64 is a stop exit code" {
		t.Errorf("exit 64: %+v", d)
	}
	if d := p.AfterDeath(&r, Death{WasReady: true, SinceReady: time.Minute, ExitCode: -1}); d.Action != Restart {
		t.Errorf("unknown exit: %+v, want a restart", d)
	}
	p.NoAutorestart = true
	if d := p.AfterDeath(&r, Death{WasReady: true, SinceReady: time.Minute, ExitCode: 3}); d.Action != Stop || d.Why != "--no-autorestart" {
		t.Errorf("--no-autorestart: %+v", d)
	}
}

// TestForkFailuresNeverError: refused forks back off to the longest delay
// and never count as failed starts.
func TestForkFailuresNeverError(t *testing.T) {
	var r Record
	var last time.Duration
	for range 20 {
		last = policy.AfterForkFailure(&r)
	}
	if last != policy.MaxRestartDelay || r.FailedStarts != 0 {
		t.Errorf("after 20 fork failures: wait %s, failed starts %d", last, r.FailedStarts)
	}
	r.Forked()
	if policy.AfterForkFailure(&r) != policy.RestartDelay {
		t.Errorf("a fork that worked did not start the series again")
	}
	for _, err := range []error{unix.EAGAIN, fmt.Errorf("fork: %w", unix.EMFILE), unix.ENFILE, unix.ENOMEM} {
		if !IsTransient(err) {
			t.Errorf("%v is not transient", err)
		}
	}
	if IsTransient(unix.ENOENT) || IsTransient(errors.New("exec format error")) {
		t.Errorf("a missing program counted as transient")
	}
}

func TestExitCodeAndDescription(t *testing.T) {
	exited := unix.WaitStatus(3 << 8)
	killed := unix.WaitStatus(syscall.SIGKILL)
	if ExitCode(exited, nil) != 3 || DescribeExit(exited, nil) != "exit code 3" {
		t.Errorf("exit 3: %d %q", ExitCode(exited, nil), DescribeExit(exited, nil))
	}
	if ExitCode(killed, nil) != 137 || DescribeExit(killed, nil) != "signal SIGKILL" {
		t.Errorf("SIGKILL: %d %q", ExitCode(killed, nil), DescribeExit(killed, nil))
	}
	if ExitCode(0, errors.New("lost")) != -1 {
		t.Errorf("an unknown exit has a code")
	}
}

// TestLastExit: the master ends as its last worker did, but 0 after a
// stop exit code, which means done on purpose.
func TestLastExit(t *testing.T) {
	p := Policy{StopExitCodes: []int{0, 64}}
	for code, want := range map[int]int{64: 0, 0: 0, 3: 3} {
		if got := p.LastExit(code); got.Code != want {
			t.Errorf("LastExit(%d) = %d, want %d", code, got.Code, want)
		}
	}
}

// A start counts until it is StartHold old; past the limit of them the next
// waits for the oldest to stop counting.
func TestStartWait(t *testing.T) {
	full := make([]time.Duration, 4)
	if got := StartWait(full[1:], 4); got != 0 {
		t.Errorf("one start short of the cap waits %v", got)
	}
	full[0] = StartHold - 30*time.Millisecond
	if got := StartWait(full, 4); got != 30*time.Millisecond {
		t.Errorf("at the cap: waits %v, want until the oldest is StartHold old (30ms)", got)
	}
	full[0] = StartHold
	if got := StartWait(full, 4); got != 0 {
		t.Errorf("a start StartHold old still counts: waits %v", got)
	}
}
