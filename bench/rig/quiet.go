package rig

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The suite shares the machine with whatever else runs on it, and two cores leave no room:
// a test run elsewhere halves a server's throughput for a few seconds. The targets take
// turns round by round so that slow drift hits all of them alike; what the suite can do
// about bursts is to wait for a quiet machine before each scenario and to say in the
// report how busy the machine was when it could not.

// cpuBusy is the share of all CPUs' time, over window, that was neither idle nor waiting
// for I/O, from /proc/stat.
func cpuBusy(window time.Duration) (float64, error) {
	read := func() (busy, total uint64, err error) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0, err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "cpu" {
			return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
		}
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			if i == 7 || i == 8 { // guest time is already counted in user time
				continue
			}
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy, total, nil
	}
	b0, t0, err := read()
	if err != nil {
		return 0, err
	}
	time.Sleep(window)
	b1, t1, err := read()
	if err != nil || t1 == t0 {
		return 0, err
	}
	return float64(b1-b0) / float64(t1-t0), nil
}

// QuietThreshold: below this share of busy CPU, the machine counts as quiet.
const QuietThreshold = 0.10

// WaitQuiet waits up to limit for a second in which the machine is quiet, and returns the
// busy share it last measured.
func WaitQuiet(ctx context.Context, limit time.Duration) float64 {
	deadline := time.Now().Add(limit)
	for {
		busy, err := cpuBusy(time.Second)
		if err != nil || busy < QuietThreshold || time.Now().After(deadline) || ctx.Err() != nil {
			return busy
		}
		Logf("  the machine is busy (%.0f%% of its CPU, not from this suite): waiting for it to calm down", 100*busy)
	}
}
