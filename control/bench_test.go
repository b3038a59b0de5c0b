package control

import (
	"io"
	"testing"
	"time"
)

// BenchmarkStatusRender: `clusterd status` of a 256-worker cluster.
func BenchmarkStatusRender(b *testing.B) {
	st := Status{Name: "bench", PID: 1, Command: []string{"./server"}, Generation: 3, Instances: 256,
		Listeners: []string{"127.0.0.1:3000"}, StartedAt: time.Now().Add(-time.Hour)}
	for i := range 256 {
		st.Workers = append(st.Workers, WorkerStatus{Slot: i, PID: 10000 + i, State: "ready",
			Generation: 3, Uptime: Duration(time.Minute), Restarts: i % 3})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := st.Render(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
