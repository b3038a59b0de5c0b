package control

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ProcessUsage reads what the kernel also reports through getrusage and
// /proc/PID/statm, for this very process.
func TestProcessUsageAgreesWithTheKernel(t *testing.T) {
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
	}
	cpu, rss, ok := ProcessUsage(os.Getpid())
	if !ok {
		t.Fatal("no usage for this process")
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	rusage := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	if cpu < 0.15 || cpu > rusage+0.05 || cpu < rusage-0.05 {
		t.Errorf("CPU %.3f s, getrusage %.3f s (after 0.2 s of spinning)", cpu, rusage)
	}
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := strconv.Atoi(strings.Fields(string(statm))[1])
	if want := pages * os.Getpagesize(); rss < want/2 || rss > want*2 {
		t.Errorf("RSS %d bytes, statm says %d", rss, want)
	}
	if _, _, ok := ProcessUsage(1 << 30); ok {
		t.Error("usage of a pid that cannot exist")
	}
}
