package load

import (
	"cmp"
	"context"
	"maps"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// want is the accounting a test expects; Failed lists only the kinds that must occur.
type want struct {
	issued, answered, unanswered int64
	failed                       map[string]int64
}

// check verifies the invariant every run must keep, then the test's expectations.
func check(t *testing.T, r Result, w want) {
	t.Helper()
	if r.Issued != r.Answered+r.FailedTotal()+r.Unanswered {
		t.Errorf("accounting broken: issued %d != answered %d + failed %d + unanswered %d",
			r.Issued, r.Answered, r.FailedTotal(), r.Unanswered)
	}
	if r.Latency.Count() != r.Answered {
		t.Errorf("latency has %d values for %d answers", r.Latency.Count(), r.Answered)
	}
	if r.Issued != w.issued || r.Answered != w.answered || r.Unanswered != w.unanswered ||
		!maps.Equal(r.Failed, w.failed) {
		t.Errorf("got  %v\nwant issued %d answered %d failed %v unanswered %d\nfirst errors: %v",
			r, w.issued, w.answered, w.failed, w.unanswered, r.FirstError)
	}
}

func run(t *testing.T, o Options) Result {
	t.Helper()
	r, err := Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeepAliveAllAnswered(t *testing.T) {
	s := serve(t, reply(okResponse))
	r := run(t, Options{Addr: s.addr(), Concurrency: 4, MaxRequests: 400, KeepAlive: true})
	check(t, r, want{issued: 400, answered: 400})
	if got := s.accepted.Load(); got > 4 {
		t.Errorf("server accepted %d connections, want at most 4 reused ones", got)
	}
	if r.ServerClosed != 0 {
		t.Errorf("ServerClosed = %d, want 0", r.ServerClosed)
	}
}

func TestNewConnectionPerRequest(t *testing.T) {
	heads := make(chan string, 1)
	s := serve(t, func(conn net.Conn, n int64, head []byte) bool {
		if n == 1 {
			heads <- string(head)
		}
		conn.Write([]byte("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"))
		return false
	})
	r := run(t, Options{Addr: s.addr(), Concurrency: 3, MaxRequests: 60})
	check(t, r, want{issued: 60, answered: 60})
	if got := s.accepted.Load(); got != 60 {
		t.Errorf("server accepted %d connections, want one per request (60)", got)
	}
	if head := <-heads; !strings.Contains(head, "\r\nConnection: close\r\n") {
		t.Errorf("request head without Connection: close:\n%s", head)
	}
}

func TestRequestLine(t *testing.T) {
	heads := make(chan string, 1)
	s := serve(t, func(conn net.Conn, n int64, head []byte) bool {
		if n == 1 {
			heads <- string(head)
		}
		conn.Write([]byte(okResponse))
		return true
	})
	run(t, Options{Addr: s.addr(), Path: "/health?x=1", Host: "example.test", MaxRequests: 1, KeepAlive: true})
	head := <-heads
	if !strings.HasPrefix(head, "GET /health?x=1 HTTP/1.1\r\nHost: example.test\r\n") ||
		strings.Contains(head, "Connection:") {
		t.Errorf("request head:\n%s", head)
	}
}

func TestServerClosesWithoutAnswer(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		s := serve(t, func(net.Conn, int64, []byte) bool { return false })
		r := run(t, Options{Addr: s.addr(), Concurrency: 2, MaxRequests: 20, KeepAlive: keepAlive})
		check(t, r, want{issued: 20, failed: map[string]int64{FailRead: 20}})
		if got := s.accepted.Load(); got != 20 {
			t.Errorf("keepAlive=%v: server accepted %d connections, want a new one after each failure (20)",
				keepAlive, got)
		}
	}
}

// answerOddResetEven answers odd requests and meets even ones with a reset
// (RST, not FIN).
func answerOddResetEven(conn net.Conn, n int64, _ []byte) bool {
	if n%2 == 1 {
		conn.Write([]byte(okResponse))
		return true
	}
	conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
	return false
}

func TestServerResets(t *testing.T) {
	// Odd requests are answered, even ones are met with a reset (RST, not FIN).
	s := serve(t, answerOddResetEven)
	r := run(t, Options{Addr: s.addr(), MaxRequests: 40, KeepAlive: true})
	check(t, r, want{issued: 40, answered: 20, failed: map[string]int64{FailRead: 20}})
	if !strings.Contains(r.FirstError[FailRead], "reset") {
		t.Errorf("first read error %q, want a connection reset", r.FirstError[FailRead])
	}
}

func TestConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, keepAlive := range []bool{true, false} {
		r := run(t, Options{Addr: addr, Concurrency: 2, MaxRequests: 10, KeepAlive: keepAlive})
		check(t, r, want{issued: 10, failed: map[string]int64{FailConnect: 10}})
	}
	r := run(t, Options{Addr: "unix:" + filepath.Join(t.TempDir(), "none.sock"), MaxRequests: 3})
	check(t, r, want{issued: 3, failed: map[string]int64{FailConnect: 3}})
}

func TestConnectionCloseRedials(t *testing.T) {
	for name, response := range map[string]string{
		"Connection: close": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive, close\r\n\r\nok",
		"HTTP/1.0":          "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"body until close":  "HTTP/1.1 200 OK\r\n\r\nbody without a length",
	} {
		t.Run(name, func(t *testing.T) {
			s := serve(t, replyAndClose(response))
			r := run(t, Options{Addr: s.addr(), Concurrency: 2, MaxRequests: 50, KeepAlive: true})
			check(t, r, want{issued: 50, answered: 50})
			if r.ServerClosed != 50 || s.accepted.Load() != 50 {
				t.Errorf("ServerClosed %d, connections %d; want 50 and 50", r.ServerClosed, s.accepted.Load())
			}
		})
	}
}

func TestHTTP10KeepAliveIsReused(t *testing.T) {
	s := serve(t, reply("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"))
	r := run(t, Options{Addr: s.addr(), MaxRequests: 10, KeepAlive: true})
	check(t, r, want{issued: 10, answered: 10})
	if s.accepted.Load() != 1 {
		t.Errorf("server accepted %d connections, want 1", s.accepted.Load())
	}
}

func TestChunkedBody(t *testing.T) {
	// If the parser stopped anywhere but the true end of the body, the next response on the
	// reused connection would start mid-stream and fail as "protocol".
	s := serve(t, reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n"+
		"0A;ext=1\r\n, world!!!\r\n"+
		"0\r\nTrailer: x\r\n\r\n"))
	r := run(t, Options{Addr: s.addr(), Concurrency: 2, MaxRequests: 100, KeepAlive: true})
	check(t, r, want{issued: 100, answered: 100})
	if s.accepted.Load() > 2 {
		t.Errorf("server accepted %d connections, want at most 2", s.accepted.Load())
	}
}

func TestByWorker(t *testing.T) {
	s := serve(t, func(conn net.Conn, n int64, _ []byte) bool {
		pid := []string{"4101", "4102", "4103"}[n%3]
		if n%10 == 0 {
			pid = "" // answers without the header are not attributed
		}
		resp := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
		if pid != "" {
			resp += "x-worker-pid: " + pid + "\r\n"
		}
		conn.Write([]byte(resp + "\r\n"))
		return true
	})
	r := run(t, Options{Addr: s.addr(), Concurrency: 3, MaxRequests: 300, KeepAlive: true})
	check(t, r, want{issued: 300, answered: 300})
	// n = 1..300: n%3 picks the pid, n%10 == 0 (30 of them, 10 per pid) drops it.
	if want := map[string]int64{"4101": 90, "4102": 90, "4103": 90}; !maps.Equal(r.ByWorker, want) {
		t.Errorf("ByWorker = %v, want %v", r.ByWorker, want)
	}
}

func TestStatusFailures(t *testing.T) {
	s := serve(t, func(conn net.Conn, n int64, _ []byte) bool {
		status := []string{"200 OK", "503 Service Unavailable", "404 Not Found", "302 Found"}[n%4]
		conn.Write([]byte("HTTP/1.1 " + status + "\r\nContent-Length: 3\r\n\r\nabc"))
		return true
	})
	r := run(t, Options{Addr: s.addr(), MaxRequests: 40, KeepAlive: true})
	check(t, r, want{issued: 40, answered: 10,
		failed: map[string]int64{FailStatus5xx: 10, FailStatusOther: 20}})
	if s.accepted.Load() != 1 {
		t.Errorf("a status failure must not cost the connection: %d connections", s.accepted.Load())
	}
	if r.FirstError[FailStatus5xx] != "status 503" {
		t.Errorf("FirstError = %v", r.FirstError)
	}
}

func TestMalformedResponse(t *testing.T) {
	s := serve(t, replyAndClose("SSH-2.0-OpenSSH\r\n\r\n"))
	r := run(t, Options{Addr: s.addr(), MaxRequests: 3, KeepAlive: true})
	check(t, r, want{issued: 3, failed: map[string]int64{FailProtocol: 3}})
}

func TestTimeout(t *testing.T) {
	s := serve(t, func(net.Conn, int64, []byte) bool { return true }) // reads, never answers
	r := run(t, Options{Addr: s.addr(), MaxRequests: 2, KeepAlive: true, Timeout: 20 * time.Millisecond})
	check(t, r, want{issued: 2, failed: map[string]int64{FailTimeout: 2}})
	if s.accepted.Load() != 2 {
		t.Errorf("a timed-out connection must not be reused: %d connections", s.accepted.Load())
	}
}

func TestMaxRequestsExact(t *testing.T) {
	s := serve(t, reply(okResponse))
	for _, c := range []int{1, 7, 64} {
		before := s.requests.Load()
		r := run(t, Options{Addr: s.addr(), Concurrency: c, MaxRequests: 1009, KeepAlive: true,
			Duration: time.Minute})
		check(t, r, want{issued: 1009, answered: 1009})
		if got := s.requests.Load() - before; got != 1009 {
			t.Errorf("concurrency %d: server read %d requests, want 1009", c, got)
		}
	}
}

func TestDurationEndsRun(t *testing.T) {
	s := serve(t, reply(okResponse))
	r := run(t, Options{Addr: s.addr(), Concurrency: 2, Duration: 30 * time.Millisecond, KeepAlive: true})
	check(t, r, want{issued: r.Issued, answered: r.Issued})
	if r.Issued == 0 || r.Elapsed < 30*time.Millisecond {
		t.Errorf("issued %d in %v", r.Issued, r.Elapsed)
	}
}

func TestRateCapsTotal(t *testing.T) {
	s := serve(t, reply(okResponse))
	// 21 requests at 1000/s: the last one is due 20ms after the start, so the run cannot be
	// shorter than that however many connections there are.
	r := run(t, Options{Addr: s.addr(), Concurrency: 4, MaxRequests: 21, Rate: 1000, KeepAlive: true})
	check(t, r, want{issued: 21, answered: 21})
	if r.Elapsed < 20*time.Millisecond {
		t.Errorf("21 requests at 1000/s took %v", r.Elapsed)
	}
}

func TestUnixSocket(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	heads := make(chan string, 1)
	s := serveOn(t, ln, func(conn net.Conn, n int64, head []byte) bool {
		if n == 1 {
			heads <- string(head)
		}
		conn.Write([]byte(okResponse))
		return true
	})
	r := run(t, Options{Addr: s.addr(), Concurrency: 2, MaxRequests: 50, KeepAlive: true})
	check(t, r, want{issued: 50, answered: 50})
	if head := <-heads; !strings.Contains(head, "\r\nHost: localhost\r\n") {
		t.Errorf("request head for a unix socket:\n%s", head)
	}
}

// Cancelling ctx cuts requests in flight: they are counted unanswered, and Run returns at
// once rather than after Timeout.
func TestCancelCountsInFlightUnanswered(t *testing.T) {
	const answered, conns = 50, 4
	allStuck := make(chan struct{})
	var s *testServer
	s = serve(t, func(conn net.Conn, n int64, _ []byte) bool {
		if n <= answered {
			conn.Write([]byte(okResponse))
			return true
		}
		if n == answered+conns {
			close(allStuck)
		}
		<-s.done
		return false
	})
	ctx, cancel := context.WithCancel(t.Context())
	results := make(chan Result, 1)
	go func() {
		r, err := Run(ctx, Options{Addr: s.addr(), Concurrency: conns, KeepAlive: true, Timeout: time.Minute})
		if err != nil {
			t.Error(err)
		}
		results <- r
	}()
	select {
	case <-allStuck:
	case <-time.After(10 * time.Second):
		t.Fatal("the server never held a request from every connection")
	}
	cancel()
	select {
	case r := <-results:
		check(t, r, want{issued: answered + conns, answered: answered, unanswered: conns})
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// Whatever moment a cancel lands on (dial, write, read, pacing), every request is counted once.
func TestCancelKeepsAccounting(t *testing.T) {
	for _, o := range []Options{
		{KeepAlive: true, Concurrency: 8},
		{KeepAlive: false, Concurrency: 8},
		{KeepAlive: true, Concurrency: 8, Rate: 20000},
	} {
		const cancelAt = 300
		reached := make(chan struct{})
		keepAlive := o.KeepAlive
		s := serve(t, func(conn net.Conn, n int64, _ []byte) bool {
			if n == cancelAt {
				close(reached)
			}
			_, err := conn.Write([]byte(okResponse))
			return err == nil && keepAlive
		})
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-reached
			cancel()
		}()
		o.Addr = s.addr()
		r, err := Run(ctx, o)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		check(t, r, want{issued: r.Issued, answered: r.Answered, unanswered: r.Unanswered, failed: r.Failed})
		if r.Answered < cancelAt-int64(o.Concurrency) {
			t.Errorf("%+v: %v", o, r)
		}
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Addr: "10.0.0.1:80", MaxRequests: 1},
		{Addr: "example.com:80", MaxRequests: 1},
		{Addr: ":80", MaxRequests: 1},
		{Addr: "0.0.0.0:80", MaxRequests: 1},
		{Addr: "127.0.0.1", MaxRequests: 1},
		{Addr: "unix:", MaxRequests: 1},
		{Addr: "127.0.0.1:80", Path: "no-slash", MaxRequests: 1},
		{Addr: "127.0.0.1:80", Path: "/a b", MaxRequests: 1},
		{Addr: "127.0.0.1:80", Host: "a\r\nX: y", MaxRequests: 1},
		{Addr: "127.0.0.1:80", MaxRequests: -1},
		{Addr: "127.0.0.1:80", MaxRequests: 1, Concurrency: -1},
		{Addr: "127.0.0.1:80", MaxRequests: 1, Rate: -1},
		{Addr: "127.0.0.1:80"}, // nothing ends it
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	for _, addr := range []string{"127.0.0.1:80", "127.9.9.9:80", "[::1]:80", "LocalHost:80", "unix:/x", "unix:@abstract"} {
		if _, err := (Options{Addr: addr}).plan(); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
}

func TestResultString(t *testing.T) {
	r := Result{Issued: 5, Answered: 3, Failed: map[string]int64{FailRead: 1, FailConnect: 1},
		ByWorker: map[string]int64{"12": 2, "11": 1}, Elapsed: time.Second}
	r.Latency.Record(84 * time.Microsecond)
	got := r.String()
	for _, part := range []string{"issued 5 answered 3 failed 2 (connect 1 read 1) unanswered 0",
		"3 req/s in 1s", "p50 84µs", "by worker 11:1 12:2"} {
		if !strings.Contains(got, part) {
			t.Errorf("%q lacks %q", got, part)
		}
	}
}

// TestStopEndsRunGracefully: closing Stop ends issuing; nothing in flight is
// cut, and Progress counted every answer.
func TestStopEndsRunGracefully(t *testing.T) {
	addr := serve(t, reply(okResponse)).addr()
	stop := make(chan struct{})
	var progress atomic.Int64
	done := make(chan Result)
	go func() {
		r, err := Run(context.Background(), Options{Addr: addr, Concurrency: 4, KeepAlive: true, Stop: stop, Progress: &progress})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	for progress.Load() < 100 {
		runtime.Gosched()
	}
	close(stop)
	r := <-done
	if r.Unanswered != 0 || r.FailedTotal() != 0 || r.Answered != progress.Load() || r.Issued != r.Answered {
		t.Fatalf("after Stop: %s; progress %d", r, progress.Load())
	}
}

func TestConnsByWorker(t *testing.T) {
	// The worker is named by the connection's accept order (odd ones 4101, even ones 4102),
	// and answers every request on its connection: 400 requests, but 4 connections.
	var accepted atomic.Int64
	var mu sync.Mutex
	pidOf := map[net.Conn]string{}
	s := serve(t, func(conn net.Conn, _ int64, _ []byte) bool {
		mu.Lock()
		pid, ok := pidOf[conn]
		if !ok {
			pid = []string{"4102", "4101"}[accepted.Add(1)%2]
			pidOf[conn] = pid
		}
		mu.Unlock()
		conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Worker-Pid: " + pid + "\r\n\r\n"))
		return true
	})
	r := run(t, Options{Addr: s.addr(), Concurrency: 4, MaxRequests: 400, KeepAlive: true})
	check(t, r, want{issued: 400, answered: 400})
	var conns int64
	for _, n := range r.ConnsByWorker {
		conns += n
	}
	if conns != s.accepted.Load() || len(r.ConnsByWorker) != 2 {
		t.Errorf("ConnsByWorker = %v, want the %d accepted connections over 2 workers", r.ConnsByWorker, s.accepted.Load())
	}
	if r.ConnsByWorker["4101"] != 2 || r.ConnsByWorker["4102"] != 2 {
		t.Errorf("ConnsByWorker = %v, want 2 each", r.ConnsByWorker)
	}
}

func TestSamples(t *testing.T) {
	// Odd requests are answered, even ones reset: every request after a reset dials anew.
	s := serve(t, answerOddResetEven)
	r := run(t, Options{Addr: s.addr(), MaxRequests: 40, KeepAlive: true, Samples: true})
	check(t, r, want{issued: 40, answered: 20, failed: map[string]int64{FailRead: 20}})
	if len(r.Samples) != 40 {
		t.Fatalf("%d samples for 40 requests", len(r.Samples))
	}
	slices.SortFunc(r.Samples, func(a, b Sample) int { return cmp.Compare(a.Start, b.Start) })
	for i, smp := range r.Samples {
		wantOutcome, wantNew := "", i%2 == 0
		if i%2 == 1 {
			wantOutcome = FailRead
		}
		if smp.Outcome != wantOutcome || smp.NewConn != wantNew || smp.Took <= 0 {
			t.Errorf("sample %d = %+v, want outcome %q, new connection %v", i, smp, wantOutcome, wantNew)
		}
	}
	if r.Started.IsZero() {
		t.Error("Started is zero")
	}
	if r2 := run(t, Options{Addr: s.addr(), MaxRequests: 4, KeepAlive: true}); r2.Samples != nil {
		t.Errorf("%d samples kept without Options.Samples", len(r2.Samples))
	}
}
