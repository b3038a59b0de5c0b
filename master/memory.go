package master

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Memory limit, the better way than PM2's (issue 5): a worker whose RSS
// stays above --max-memory-restart is replaced by a rolling restart of its
// slot, so its successor is ready before it is stopped and it drains its
// requests in flight. One spike is not enough: it must be over the limit
// in memorySamples samples in a row, one every memoryCheckEvery.
const (
	memoryCheckEvery = time.Second
	memorySamples    = 3
)

func (m *Master) startMemoryWatch() {
	if m.cfg.MaxMemoryRestart <= 0 {
		return
	}
	var check func()
	check = func() {
		if m.stopping {
			return
		}
		for _, s := range m.slots {
			p := s.worker
			if p == nil || p.state != ready || p.reaped || s.replacing {
				continue
			}
			rss, err := residentBytes(p.pid)
			if err != nil {
				continue
			}
			if rss <= m.cfg.MaxMemoryRestart {
				p.overMemory = 0
				continue
			}
			if p.overMemory++; p.overMemory >= memorySamples {
				m.replaceSlot(s, p, "memory", fmt.Sprintf("RSS %d MiB over the %d MiB limit in %d samples in a row",
					rss>>20, m.cfg.MaxMemoryRestart>>20, memorySamples))
			}
		}
		m.after(memoryCheckEvery, check)
	}
	m.after(memoryCheckEvery, check)
}

// residentBytes is a process's resident set size, from /proc/PID/statm.
func residentBytes(pid int) (int64, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return 0, fmt.Errorf("statm of %d: %q", pid, raw)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize()), err
}
