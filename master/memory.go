package master

import (
	"fmt"
	"time"

	"github.com/clusterd/clusterd/control"
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
	if m.cfg.MaxMemoryRestart <= 0 || m.memoryWatching {
		return
	}
	m.memoryWatching = true
	var check func()
	check = func() {
		if m.stopping || m.cfg.MaxMemoryRestart <= 0 { // a reload may turn it off
			m.memoryWatching = false
			return
		}
		for _, s := range m.slots {
			p := s.worker
			if p == nil || p.state != ready || p.reaped || s.replacing {
				continue
			}
			_, resident, ok := control.ProcessUsage(p.pid)
			if !ok {
				continue
			}
			rss := int64(resident)
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
