package worker

import (
	"net"
	"path/filepath"
	"testing"
)

// BenchmarkNotify: one sd_notify datagram, as a watchdog ping or READY=1
// costs a worker.
func BenchmarkNotify(b *testing.B) {
	path := filepath.Join(b.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 256)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	b.Setenv("NOTIFY_SOCKET", path)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Notify("WATCHDOG=1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDrainRequestPath: what the drain costs every request and every
// connection of a serving worker: a Draining check per request, an
// Opened/Closed pair per connection.
func BenchmarkDrainRequestPath(b *testing.B) {
	var d Drain
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Opened()
			if d.Draining() {
				b.Fatal("draining")
			}
			d.Closed()
		}
	})
}
