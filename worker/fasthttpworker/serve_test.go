package fasthttpworker

import (
	"fmt"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/internal/proctest"
	"github.com/valyala/fasthttp"
)

// TestHelperProcess is the worker side: a fasthttp server run by Serve on the inherited
// socket (see proctest.Start). TEST_DRAIN_TIMEOUT and TEST_FALLBACK_ADDR set its Options.
// It prints "sleeping" when a /sleep request reaches the handler, and the connection
// counts its own ConnState hook saw when Serve returns; it exits 0 if Serve returned nil.
func TestHelperProcess(t *testing.T) {
	if proctest.Helper() != "serve" {
		return
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	var opened, closed atomic.Int64
	s := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.SetCanonical([]byte("X-Worker-Pid"), pid)
			if string(ctx.Path()) == "/sleep" {
				fmt.Println("sleeping")
				time.Sleep(time.Duration(ctx.QueryArgs().GetUintOrZero("ms")) * time.Millisecond)
			}
			ctx.SetBodyString("ok\n")
		},
		ConnState: func(_ net.Conn, state fasthttp.ConnState) {
			switch state {
			case fasthttp.StateNew:
				opened.Add(1)
			case fasthttp.StateClosed:
				closed.Add(1)
			}
		},
	}
	drainTimeout, _ := time.ParseDuration(os.Getenv("TEST_DRAIN_TIMEOUT"))
	err := Serve(s, Options{FallbackAddr: os.Getenv("TEST_FALLBACK_ADDR"), DrainTimeout: drainTimeout})
	fmt.Printf("conns opened=%d closed=%d\n", opened.Load(), closed.Load())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestDrainUnderLoad is the promise of the whole project in small: a worker that gets
// SIGTERM under keep-alive load, while another worker serves the same socket, fails no
// request.
func TestDrainUnderLoad(t *testing.T) {
	addr, sock := proctest.Socket(t)
	sockets := []*os.File{sock}
	old := proctest.Start(t, "serve", sockets, "TEST_DRAIN_TIMEOUT=10s")
	old.WaitNotify("READY=1")
	oldPid := strconv.Itoa(old.Pid())

	// Every connection opens while the old worker is alone, so it has them all to drain.
	l := startLoad(t, addr, 8)
	if by := l.snapshot().answeredBy; by[oldPid] < 8 {
		t.Fatalf("first answers came from %v, want all from the old worker %s", by, oldPid)
	}
	next := proctest.Start(t, "serve", sockets, "TEST_DRAIN_TIMEOUT=10s")
	next.WaitNotify("READY=1")
	nextPid := strconv.Itoa(next.Pid())

	l.waitFor(t, "more answers from the old worker", func(s loadStats) bool { return s.answeredBy[oldPid] >= 100 })
	old.Signal(syscall.SIGTERM)
	if code := old.Wait(); code != 0 {
		t.Errorf("old worker exited with %d, want 0", code)
	}
	if got := old.WaitOutput("conns "); !balanced(got) {
		t.Errorf("old worker's own ConnState hook saw %s", got)
	}
	// The connections it closed come back to the new worker.
	l.waitFor(t, "answers from the new worker", func(s loadStats) bool { return s.answeredBy[nextPid] >= 200 })
	stats := l.stop()

	t.Logf("sent %d answered %d by %v; Connection: close from %v", stats.sent, stats.answered, stats.answeredBy, stats.closeFrom)
	if len(stats.failures) > 0 || stats.sent != stats.answered {
		t.Errorf("%d requests sent, %d answered, %d failed: %v", stats.sent, stats.answered, len(stats.failures), stats.failures)
	}
	if stats.closeFrom[oldPid] < 8 {
		t.Errorf("old worker sent Connection: close %d times, want at least once per connection (8)", stats.closeFrom[oldPid])
	}
	if stats.closeFrom[nextPid] > 0 {
		t.Errorf("new worker, not draining, sent Connection: close %d times", stats.closeFrom[nextPid])
	}
}

// TestDrainFinishesRequests: a request in progress when SIGTERM arrives is answered, and a
// request that arrives afterwards on an open keep-alive connection is answered too, both
// with Connection: close; then the worker exits 0 without waiting for the drain timeout.
func TestDrainFinishesRequests(t *testing.T) {
	addr, sock := proctest.Socket(t)
	w := proctest.Start(t, "serve", []*os.File{sock}, "TEST_DRAIN_TIMEOUT=10s")
	w.WaitNotify("READY=1")

	idle := proctest.Open(t, addr)
	if resp := idle.MustGet(t, "/"); resp.Close() {
		t.Fatal("Connection: close before any signal")
	}
	sleeper := proctest.Open(t, addr)
	if err := sleeper.Send("/sleep?ms=300"); err != nil {
		t.Fatal(err)
	}
	w.WaitOutput("sleeping")

	w.Signal(syscall.SIGTERM)
	w.WaitNotify("STOPPING=1")
	if resp := idle.MustGet(t, "/"); resp.Status != 200 || !resp.Close() {
		t.Errorf("request after SIGTERM: status %d, Connection %q; want 200 and close", resp.Status, resp.Header.Get("Connection"))
	}
	resp, err := sleeper.Receive()
	if err != nil {
		t.Fatalf("request in progress at SIGTERM: %v", err)
	}
	if resp.Status != 200 || resp.Body != "ok\n" || !resp.Close() {
		t.Errorf("request in progress at SIGTERM: status %d, body %q, Connection %q; want 200, ok, close",
			resp.Status, resp.Body, resp.Header.Get("Connection"))
	}
	if code := w.Wait(); code != 0 {
		t.Errorf("worker exited with %d, want 0", code)
	}
	if got := w.WaitOutput("conns "); got != "conns opened=2 closed=2" {
		t.Errorf("worker's ConnState hook saw %s, want 2 opened and closed", got)
	}
}

// TestDrainTimeout: a keep-alive connection that stays silent keeps the worker only until
// the drain timeout; Shutdown then closes it.
func TestDrainTimeout(t *testing.T) {
	const drainTimeout = 200 * time.Millisecond
	addr, sock := proctest.Socket(t)
	w := proctest.Start(t, "serve", []*os.File{sock}, "TEST_DRAIN_TIMEOUT="+drainTimeout.String())
	w.WaitNotify("READY=1")
	idle := proctest.Open(t, addr)
	idle.MustGet(t, "/")

	w.Signal(syscall.SIGTERM)
	signaled := time.Now()
	if code := w.Wait(); code != 0 {
		t.Errorf("worker exited with %d, want 0", code)
	}
	if waited := time.Since(signaled); waited < drainTimeout {
		t.Errorf("worker exited %v after SIGTERM, before the drain timeout %v with a connection open", waited, drainTimeout)
	}
	if resp, err := idle.Receive(); err == nil {
		t.Errorf("idle connection got a response %d instead of being closed", resp.Status)
	}
}

// TestSecondSignalAbandonsDrain: an operator's second Ctrl-C (or SIGTERM) does not wait for
// a long request.
func TestSecondSignalAbandonsDrain(t *testing.T) {
	addr, sock := proctest.Socket(t)
	w := proctest.Start(t, "serve", []*os.File{sock}, "TEST_DRAIN_TIMEOUT=10s")
	w.WaitNotify("READY=1")
	sleeper := proctest.Open(t, addr)
	if err := sleeper.Send("/sleep?ms=20000"); err != nil {
		t.Fatal(err)
	}
	w.WaitOutput("sleeping")

	w.Signal(syscall.SIGINT)
	w.WaitNotify("STOPPING=1")
	w.Signal(syscall.SIGINT)
	if code := w.Wait(); code != 1 {
		t.Errorf("worker exited with %d, want 1", code)
	}
	if !strings.Contains(w.Stderr(), ErrDrainAbandoned.Error()) {
		t.Errorf("stderr %q does not say the drain was abandoned", w.Stderr())
	}
}

// TestFallbackAddr: a worker started by hand, not by a master, listens on its own.
func TestFallbackAddr(t *testing.T) {
	addr := proctest.FreeAddr(t)
	w := proctest.Start(t, "serve", nil, "TEST_FALLBACK_ADDR="+addr)
	w.WaitNotify("READY=1")
	c := proctest.Open(t, addr)
	if resp := c.MustGet(t, "/"); resp.Status != 200 {
		t.Errorf("status %d", resp.Status)
	}
	c.Close() // else the drain waits for it
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(); code != 0 {
		t.Errorf("worker exited with %d, want 0", code)
	}
}

// TestServeStopsAfterShutdown runs Serve in the test process on a listener of its own and
// stops it with Server.Shutdown (rather than a signal, which would reach the test binary).
func TestServeStopsAfterShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var states sync.Map // state → true, from the caller's own hook
	s := &fasthttp.Server{
		Handler:   func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") },
		ConnState: func(_ net.Conn, state fasthttp.ConnState) { states.Store(state, true) },
	}
	served := make(chan error, 1)
	go func() { served <- Serve(s, Options{Listeners: []net.Listener{ln}}) }()

	c := proctest.Open(t, ln.Addr().String())
	if resp := c.MustGet(t, "/"); resp.Body != "ok" {
		t.Errorf("body %q", resp.Body)
	}
	c.Close()
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v after Shutdown, want nil", err)
		}
	case <-time.After(proctest.Timeout):
		t.Fatal("Serve did not return after Shutdown")
	}
	if _, ok := states.Load(fasthttp.StateNew); !ok {
		t.Error("the caller's ConnState hook was not called")
	}
}

func TestServeErrors(t *testing.T) {
	t.Setenv("LISTEN_FDS", "")
	if err := Serve(&fasthttp.Server{}, Options{FallbackAddr: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "Handler") {
		t.Errorf("Serve without a handler = %v", err)
	}
	handler := func(*fasthttp.RequestCtx) {}
	if err := Serve(&fasthttp.Server{Handler: handler}, Options{}); err == nil || !strings.Contains(err.Error(), "no sockets") {
		t.Errorf("Serve without sockets or fallback = %v", err)
	}
}

// balanced reports whether a "conns opened=N closed=M" line has N == M > 0.
func balanced(line string) bool {
	var opened, closed int
	_, err := fmt.Sscanf(line, "conns opened=%d closed=%d", &opened, &closed)
	return err == nil && opened > 0 && opened == closed
}

// load keeps keep-alive connections busy with GET / and accounts for every request: each
// one sent is either answered (a complete response) or a failure. A connection the server
// answered with Connection: close is replaced by a new one, which is not a failure.
type load struct {
	addr    string
	stopped atomic.Bool
	done    sync.WaitGroup

	mu    sync.Mutex
	stats loadStats
}

type loadStats struct {
	sent, answered int
	failures       []error
	answeredBy     map[string]int // X-Worker-Pid → responses
	closeFrom      map[string]int // X-Worker-Pid → responses with Connection: close
}

// startLoad starts conns clients and returns once each has had its first answer.
func startLoad(t *testing.T, addr string, conns int) *load {
	l := &load{addr: addr, stats: loadStats{answeredBy: map[string]int{}, closeFrom: map[string]int{}}}
	t.Cleanup(func() { l.stop() })
	var first sync.WaitGroup
	for range conns {
		first.Add(1)
		l.done.Go(func() { l.client(first.Done) })
	}
	first.Wait()
	return l
}

func (l *load) client(answered func()) {
	var c *proctest.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
		if answered != nil {
			answered() // failed before its first answer: do not keep startLoad waiting
		}
	}()
	for !l.stopped.Load() {
		if c == nil {
			var err error
			if c, err = proctest.Dial(l.addr); err != nil {
				l.fail(err) // a refused connection is a failed request too
				return
			}
		}
		l.mu.Lock()
		l.stats.sent++
		l.mu.Unlock()
		resp, err := c.Get("/")
		if err != nil {
			l.fail(err)
			return
		}
		pid := resp.Header.Get("X-Worker-Pid")
		l.mu.Lock()
		l.stats.answered++
		l.stats.answeredBy[pid]++
		if resp.Close() {
			l.stats.closeFrom[pid]++
		}
		l.mu.Unlock()
		if answered != nil {
			answered()
			answered = nil
		}
		if resp.Close() {
			c.Close()
			c = nil
		}
	}
}

func (l *load) fail(err error) {
	l.mu.Lock()
	l.stats.failures = append(l.stats.failures, err)
	l.mu.Unlock()
}

func (l *load) snapshot() loadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.failures = append([]error(nil), s.failures...)
	s.answeredBy, s.closeFrom = maps.Clone(s.answeredBy), maps.Clone(s.closeFrom)
	return s
}

// waitFor polls the counters until cond holds, or fails after proctest.Timeout; a failed
// request ends the wait early, since the test has failed already.
func (l *load) waitFor(t *testing.T, what string, cond func(loadStats) bool) {
	t.Helper()
	deadline := time.Now().Add(proctest.Timeout)
	for {
		s := l.snapshot()
		if len(s.failures) > 0 {
			t.Fatalf("waiting for %s: %d requests failed, first: %v", what, len(s.failures), s.failures[0])
		}
		if cond(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v: %+v", what, proctest.Timeout, s)
		}
		time.Sleep(time.Millisecond)
	}
}

// stop lets each client finish the request it is on and returns the final counts.
func (l *load) stop() loadStats {
	l.stopped.Store(true)
	l.done.Wait()
	return l.snapshot()
}
