package main

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// instancesValue reads -i the way PM2 does: a count, "max" or 0 for one per
// CPU, -1 for one fewer than the CPUs (at least 1).
type instancesValue struct{ n int }

func (v *instancesValue) String() string { return "max" }
func (v *instancesValue) Type() string   { return "N|max|-1" }

func (v *instancesValue) Set(s string) error {
	cpus := runtime.NumCPU()
	switch s = strings.TrimSpace(s); s {
	case "max", "0":
		v.n = cpus
		return nil
	case "-1":
		v.n = max(cpus-1, 1)
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("want a positive number, max or -1, not %q", s)
	}
	v.n = n
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
