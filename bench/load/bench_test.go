package load

import (
	"bufio"
	"context"
	"testing"
	"time"
)

// The client's cost per request against an in-process server that allocates nothing per
// request. ns/op is one request's round trip on loopback with the server sharing the CPUs,
// so compare figures side by side in one run; allocs/op should be 0 with keep-alive (dials
// and accepts allocate in the new-connection case, on both sides).
//
//	go test -run '^$' -bench . -benchmem ./bench/load
func BenchmarkRun(b *testing.B) {
	for _, c := range []struct {
		name        string
		concurrency int
		keepAlive   bool
	}{
		{"keepalive/c1", 1, true},
		{"keepalive/c8", 8, true},
		{"newconn/c1", 1, false},
		{"newconn/c8", 8, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := serve(b, reply(okResponse))
			b.ReportAllocs()
			b.ResetTimer()
			r, err := Run(context.Background(), Options{Addr: s.addr(), Concurrency: c.concurrency,
				MaxRequests: int64(b.N), KeepAlive: c.keepAlive, Timeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			if r.Answered != int64(b.N) {
				b.Fatalf("%d of %d answered: %v %v", r.Answered, b.N, r, r.FirstError)
			}
		})
	}
}

// BenchmarkReadResponse is the parser alone, on a response much like the demo server's.
func BenchmarkReadResponse(b *testing.B) {
	for _, c := range []struct{ name, response string }{
		{"length", "HTTP/1.1 200 OK\r\nServer: fasthttp\r\nDate: Tue, 25 Nov 2025 19:21:00 GMT\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\nX-Worker-Pid: 4101\r\n\r\nHello, world!"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Worker-Pid: 4101\r\n\r\n" +
			"7\r\nHello, \r\n6\r\nworld!\r\n0\r\n\r\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			br := bufio.NewReader(&repeatReader{data: []byte(c.response)})
			var r response
			b.ReportAllocs()
			b.SetBytes(int64(len(c.response)))
			for b.Loop() {
				if err := readResponse(br, &r); err != nil || r.status != 200 {
					b.Fatal(err)
				}
			}
		})
	}
}

// repeatReader serves data over and over, as a keep-alive connection would.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}
