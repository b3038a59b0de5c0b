package control

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUSampleWindow is how long `clusterd status` watches the workers' CPU
// time to show a current CPU%.
const CPUSampleWindow = 250 * time.Millisecond

// SampleUsage fills each worker's RSS and CPU% from /proc, watching CPU
// time over window. It runs on the control connection's goroutine.
func SampleUsage(st *Status, window time.Duration) {
	before := make([]float64, len(st.Workers))
	for i, w := range st.Workers {
		if w.PID != 0 {
			before[i], _, _ = ProcessUsage(w.PID)
		}
	}
	start := time.Now()
	time.Sleep(window)
	elapsed := time.Since(start).Seconds()
	for i := range st.Workers {
		w := &st.Workers[i]
		if w.PID == 0 {
			continue
		}
		if after, rss, ok := ProcessUsage(w.PID); ok {
			w.RSSBytes = int64(rss)
			cpu := max(0, (after-before[i])/elapsed*100)
			w.CPUPercent = &cpu
		}
	}
}

// ProcessUsage is a process's CPU seconds so far and resident bytes, from
// /proc/PID/stat (proc(5)). Read by hand: a /proc library's package init
// ran again at every start of the demo worker, which is this binary
// (docs/design.md §22).
func ProcessUsage(pid int) (cpuSeconds float64, rss int, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	// so the fields are counted from the last ')', state being field 3.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	const utime, stime, rssPages = 14 - 3, 15 - 3, 24 - 3
	if len(fields) <= rssPages {
		return 0, 0, false
	}
	user, err1 := strconv.ParseUint(fields[utime], 10, 64)
	system, err2 := strconv.ParseUint(fields[stime], 10, 64)
	pages, err3 := strconv.ParseInt(fields[rssPages], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	// USER_HZ is 100 on every Linux architecture Go supports; the kernel
	// reports in it whatever HZ it was built with.
	const userHZ = 100
	return float64(user+system) / userHZ, int(pages) * os.Getpagesize(), true
}
