package appconfig

import (
	"math"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/control"
)

// FuzzDurationValue feeds flag values to durationValue: a duration it accepts is not
// negative, a plain number is that many milliseconds exactly (not wrapped around), and
// String gives back a value that Set reads as the same duration.
func FuzzDurationValue(f *testing.F) {
	for _, seed := range []string{"1600", "1600ms", "5s", "1h2m3.5s", "0", "-0", "-1", "-1s", "1e3",
		"9223372036854", "9223372036855", "9223372036854775807", "2562047h47m16.854775807s", "2562048h", " 5s", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d time.Duration
		if err := (durationValue{&d}).Set(s); err != nil {
			checkOneLine(t, err)
			return
		}
		if d < 0 {
			t.Fatalf("Set(%q) = %v: negative", s, d)
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil && (ms > math.MaxInt64/int64(time.Millisecond) || d != time.Duration(ms)*time.Millisecond) {
			t.Fatalf("Set(%q) = %v, not %d ms", s, d, ms)
		}
		var again time.Duration
		if err := (durationValue{&again}).Set(durationValue{&d}.String()); err != nil || again != d {
			t.Fatalf("Set(%q) = %v, but Set(%q) = %v, %v", s, d, durationValue{&d}.String(), again, err)
		}
	})
}

// FuzzSizeValue feeds flag values to sizeValue: a size it accepts is not negative, and
// String gives back a value that Set reads as the same size.
func FuzzSizeValue(f *testing.F) {
	for _, seed := range []string{"10M", "512K", "1G", "1GiB", "10mb", "0", "-1", "1023", "8589934591G",
		"8589934592G", "9223372036854775807", "K", "B", "iB", " 2 M", "1.5G", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var n int64
		if err := (sizeValue{&n}).Set(s); err != nil {
			checkOneLine(t, err)
			return
		}
		if n < 0 {
			t.Fatalf("Set(%q) = %d: negative", s, n)
		}
		var again int64
		if err := (sizeValue{&again}).Set(sizeValue{&n}.String()); err != nil || again != n {
			t.Fatalf("Set(%q) = %d, but Set(%q) = %d, %v", s, n, sizeValue{&n}.String(), again, err)
		}
	})
}

// FuzzInstancesValue feeds -i values to instancesValue: a count it accepts is one the
// master can run (what scale accepts too), and String gives back a value that Set reads
// as the same count.
func FuzzInstancesValue(f *testing.F) {
	for _, seed := range []string{"4", "max", "0", "-1", "-2", "1", "4096", "4097", "100000", " 3 ", "+3", "0x10", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v instancesValue
		if err := v.Set(s); err != nil {
			checkOneLine(t, err)
			return
		}
		if _, err := control.ParseScale(strconv.Itoa(v.n), 1); err != nil {
			t.Fatalf("Set(%q) = %d instances, which scale refuses: %v", s, v.n, err)
		}
		var again instancesValue
		if err := again.Set(v.String()); err != nil || again.n != v.n {
			t.Fatalf("Set(%q) = %d, but Set(%q) = %d, %v", s, v.n, v.String(), again.n, err)
		}
	})
}

// FuzzSignalValue feeds --stop-signal style values to signalValue: a signal it accepts
// is a real one, and String gives back a name that Set reads as the same signal.
func FuzzSignalValue(f *testing.F) {
	for _, seed := range []string{"SIGTERM", "term", " sigint ", "SIGRTMIN", "SIG", "", "9", "SIGKILL", "sigsigterm"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sig syscall.Signal
		if err := (signalValue{&sig}).Set(s); err != nil {
			checkOneLine(t, err)
			return
		}
		if sig < 1 || sig > 64 {
			t.Fatalf("Set(%q) = signal %d", s, int(sig))
		}
		var again syscall.Signal
		if err := (signalValue{&again}).Set(signalValue{&sig}.String()); err != nil || again != sig {
			t.Fatalf("Set(%q) = %v, but Set(%q) = %v, %v", s, sig, signalValue{&sig}.String(), again, err)
		}
	})
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("error is not one line: %q", msg)
	}
}

// TestMaxInstancesIsScales: -i allows what scale allows, no more (the master's limit is
// unexported, so ask ParseScale).
func TestMaxInstancesIsScales(t *testing.T) {
	if _, err := control.ParseScale(strconv.Itoa(maxInstances), 1); err != nil {
		t.Errorf("scale refuses -i's limit %d: %v", maxInstances, err)
	}
	if _, err := control.ParseScale(strconv.Itoa(maxInstances+1), 1); err == nil {
		t.Errorf("scale allows %d, above -i's limit", maxInstances+1)
	}
}
