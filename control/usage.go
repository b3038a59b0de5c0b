package control

import (
	"time"

	"github.com/prometheus/procfs"
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

// ProcessUsage is a process's CPU seconds so far and resident bytes.
func ProcessUsage(pid int) (cpuSeconds float64, rss int, ok bool) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, 0, false
	}
	s, err := p.Stat()
	if err != nil {
		return 0, 0, false
	}
	return s.CPUTime(), s.ResidentMemory(), true
}
