package appconfig

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/internal/cpulimit"
)

// maxInstances is the master's limit for scale; TestMaxInstancesIsScales keeps
// the two equal.
const maxInstances = 4096

// instancesValue reads -i the way PM2 does: a count, "max" or 0 for one per
// CPU, -1 for one fewer than the CPUs (at least 1). The CPUs are those of
// the cgroup's CPU quota where it is lower (cpulimit.Get().Source says).
type instancesValue struct {
	n    int
	spec string // as given, so that String gives back what Set took
	from string // where a count from the CPUs came from ("" for a number)
}

func (v *instancesValue) String() string { return v.spec }
func (v *instancesValue) Type() string   { return "N|max|-1" }

func (v *instancesValue) Set(s string) error {
	limit := cpulimit.Get()
	switch s = strings.TrimSpace(s); s {
	case "max", "0":
		v.n, v.spec, v.from = limit.N, s, s+": "+limit.Source
		return nil
	case "-1":
		v.n, v.spec, v.from = max(limit.N-1, 1), s, s+": "+limit.Source
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("want a number of workers (1 or more; 0 means max), max or -1, not %q", s)
	}
	if n > maxInstances {
		return fmt.Errorf("want at most %d instances (what scale allows), not %d", maxInstances, n)
	}
	v.n, v.spec, v.from = n, s, ""
	return nil
}

// depthValue is a count of directory levels, or nothing given (all).
type depthValue struct{ n **int }

func (v depthValue) String() string {
	if v.n == nil || *v.n == nil {
		return ""
	}
	return strconv.Itoa(**v.n)
}
func (v depthValue) Type() string { return "N" }

func (v depthValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return fmt.Errorf("want a number of directory levels (0 or more), not %q", s)
	}
	*v.n = &n
	return nil
}

// durationValue accepts Go durations ("1600ms", "5s") and, as PM2 does,
// plain numbers as milliseconds.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil {
		return "0s"
	}
	return v.d.String()
}
func (v durationValue) Type() string { return "duration" }

func (v durationValue) Set(s string) error {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return fmt.Errorf("want a duration like 1600ms or 5s, not a negative number")
		}
		if ms > math.MaxInt64/int64(time.Millisecond) { // would wrap around to a negative duration
			return fmt.Errorf("want a duration like 1600ms or 5s, not %s ms (over 292 years)", s)
		}
		*v.d = time.Duration(ms) * time.Millisecond
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration like 1600ms or 5s (plain numbers are milliseconds), not %q", s)
	}
	*v.d = d
	return nil
}

// sizeValue reads a size in bytes the way PM2 writes them: a plain number
// of bytes, or a number with K, M or G (powers of 1024, "B" and "iB" are
// allowed after them): 10M, 512K, 1G.
type sizeValue struct{ n *int64 }

func (v sizeValue) String() string {
	if v.n == nil || *v.n == 0 {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"G", 30}, {"M", 20}, {"K", 10}} {
		if *v.n%(1<<u.shift) == 0 {
			return strconv.FormatInt(*v.n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(*v.n, 10)
}

func (v sizeValue) Type() string { return "size" }

func (v sizeValue) Set(s string) error {
	num := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	shift := 0
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		}
		if shift > 0 {
			num = num[:n-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return fmt.Errorf("want a size like 10M, 200M or 1G, not %q", s)
	}
	*v.n = n << shift
	return nil
}

// signalValue reads a signal name: SIGINT, INT, sigquit.
type signalValue struct{ sig *syscall.Signal }

func (v signalValue) String() string {
	if v.sig == nil || *v.sig == 0 {
		return ""
	}
	return unix.SignalName(*v.sig)
}
func (v signalValue) Type() string { return "signal" }

func (v signalValue) Set(s string) error {
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return fmt.Errorf("want a signal name like SIGTERM or SIGINT, not %q", s)
	}
	*v.sig = sig
	return nil
}
