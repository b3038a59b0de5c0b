package notify

import (
	"net"
	"os"
	"testing"
	"time"
)

// BenchmarkParseNotify: every READY=1, STATUS= and watchdog ping from a
// worker goes through it on the event loop.
func BenchmarkParseNotify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		n := Parse("READY=1\nSTATUS=serving fd 3")
		if !n.Ready {
			b.Fatal("not ready")
		}
	}
}

// BenchmarkNotifyDelivery: one datagram from a "worker" (this process, so
// the sender check passes) to the endpoint's goroutine and out of deliver:
// the path of every readiness message.
func BenchmarkNotifyDelivery(b *testing.B) {
	ep, err := Open(os.Getpid(), uint64(time.Now().UnixNano()))
	if err != nil {
		b.Fatal(err)
	}
	defer ep.Close()
	got := make(chan string, 1)
	ep.Serve(os.Getpid(), uint32(os.Getuid()), func(msg string) { got <- msg }, func(int32, int) { b.Error("rejected") }, func() {})
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: ep.Addr(), Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	msg := []byte("READY=1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}
