package demo

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/internal/proctest"
	"github.com/valyala/fasthttp"
)

// TestHelperProcess runs the demo as a worker on the inherited socket (see
// proctest.Start); TEST_CRASH_RATE sets Options.CrashRate.
func TestHelperProcess(t *testing.T) {
	proctest.RunHelper(map[string]func() error{"demo": func() error {
		rate, _ := strconv.ParseFloat(os.Getenv("TEST_CRASH_RATE"), 64)
		return Run(Options{CrashRate: rate, DrainTimeout: 10 * time.Second})
	}})
}

// request runs one request through the handler in the test process.
func request(d *server, uri string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(uri)
	d.handle(&ctx)
	return &ctx
}

func TestEndpoints(t *testing.T) {
	t.Setenv("DEMO_TEST_VAR", "forty-two")
	pid := strconv.Itoa(os.Getpid())
	d := newServer(0, func(code int) { t.Fatalf("exit(%d)", code) }, func() {})
	for _, tc := range []struct {
		uri, body string
		status    int
	}{
		{"/", "hello from worker pid=" + pid + "\n", 200},
		{"/sleep?ms=1", "slept 1 ms\n", 200},
		{"/sleep?ms=soon", "ms must be a number of milliseconds\n", 400},
		{"/health", "ok\n", 200},
		{"/env?name=DEMO_TEST_VAR", "forty-two\n", 200},
		{"/env?name=DEMO_TEST_UNSET", "not set\n", 404},
		{"/alloc?mb=1", "kept 1 MiB\n", 200},
		{"/alloc?mb=2", "kept 3 MiB\n", 200},
		{"/alloc?mb=0", "mb must be a number from 1 to 65536\n", 400},
		{"/sick", "sick: /health now answers 503\n", 200},
		{"/health", "sick\n", 503},
		{"/nowhere", "not found\n", 404},
	} {
		ctx := request(d, tc.uri)
		if got := ctx.Response.StatusCode(); got != tc.status {
			t.Errorf("%s: status %d, want %d", tc.uri, got, tc.status)
		}
		if got := string(ctx.Response.Body()); got != tc.body {
			t.Errorf("%s: body %q, want %q", tc.uri, got, tc.body)
		}
		if got := string(ctx.Response.Header.Peek("X-Worker-Pid")); got != pid {
			t.Errorf("%s: X-Worker-Pid %q, want %s", tc.uri, got, pid)
		}
	}
}

func TestCrashes(t *testing.T) {
	var exits []int
	exit := func(code int) { exits = append(exits, code) }

	request(newServer(0, exit, func() {}), "/crash")
	always := newServer(1, exit, func() {})
	request(always, "/health")
	request(newServer(0, exit, func() {}), "/health")
	if fmt.Sprint(exits) != "[70 70]" {
		t.Errorf("exit codes %v, want [70 70]: /crash and crash rate 1 exit, crash rate 0 does not", exits)
	}
}

func TestRunRejectsCrashRate(t *testing.T) {
	for _, rate := range []float64{-0.1, 1.5, math.NaN()} {
		if err := Run(Options{CrashRate: rate}); err == nil || !strings.Contains(err.Error(), "crash rate") {
			t.Errorf("Run with crash rate %v = %v", rate, err)
		}
	}
}

// TestServesAndDrains runs the demo as the master would and checks what a client sees.
func TestServesAndDrains(t *testing.T) {
	addr, sock := proctest.Socket(t)
	w := proctest.Start(t, "demo", []*os.File{sock}, "DEMO_TEST_VAR=from the master")
	w.WaitNotify("READY=1")
	pid := strconv.Itoa(w.Pid())

	c := proctest.Open(t, addr)
	resp := c.MustGet(t, "/")
	if resp.Status != 200 || resp.Body != "hello from worker pid="+pid+"\n" {
		t.Errorf("GET /: %d %q", resp.Status, resp.Body)
	}
	if got := resp.Header.Get("X-Worker-Pid"); got != pid {
		t.Errorf("X-Worker-Pid %q, want %s", got, pid)
	}
	if got := resp.Header.Get("Server"); got != "clusterd-demo" {
		t.Errorf("Server %q", got)
	}
	if resp := c.MustGet(t, "/env?name=DEMO_TEST_VAR"); resp.Body != "from the master\n" {
		t.Errorf("GET /env: %d %q", resp.Status, resp.Body)
	}

	w.Signal(syscall.SIGTERM)
	w.WaitNotify("STOPPING=1")
	if resp := c.MustGet(t, "/"); resp.Status != 200 || !resp.Close() {
		t.Errorf("GET / while draining: %d, Connection %q; want 200 and close", resp.Status, resp.Header.Get("Connection"))
	}
	if code := w.Wait(); code != 0 {
		t.Errorf("demo exited with %d after SIGTERM, want 0", code)
	}
}

// TestCrashAnswersNothing: /crash, and any request under crash rate 1, end the process
// with status 70 before a byte of response is written.
func TestCrashAnswersNothing(t *testing.T) {
	for _, tc := range []struct{ name, target, rate string }{
		{"crash endpoint", "/crash", "0"},
		{"crash rate", "/", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, sock := proctest.Socket(t)
			w := proctest.Start(t, "demo", []*os.File{sock}, "TEST_CRASH_RATE="+tc.rate)
			w.WaitNotify("READY=1")
			// Not one byte: the connection ends (EOF, or a reset) before a status line.
			resp, err := proctest.Open(t, addr).Get(tc.target)
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("GET %s: %v, %v; want EOF or a reset", tc.target, resp, err)
			}
			if code := w.Wait(); code != CrashExitCode {
				t.Errorf("exit status %d, want %d", code, CrashExitCode)
			}
		})
	}
}

// TestHang: after /hang no request is answered and no watchdog ping follows, so only the
// watchdog can tell this worker from a healthy one.
func TestHang(t *testing.T) {
	const pingEvery = 10 * time.Millisecond // half of WATCHDOG_USEC
	addr, sock := proctest.Socket(t)
	w := proctest.Start(t, "demo", []*os.File{sock}, "WATCHDOG_USEC=20000")
	w.WaitNotify("READY=1")
	w.WaitNotify("WATCHDOG=1")

	if err := proctest.Open(t, addr).Send("/hang"); err != nil {
		t.Fatal(err)
	}
	// The demo stops the pings, then says so; a ping after this message is a bug.
	w.WaitNotify("STATUS=hung: /hang was requested")
	select {
	case msg := <-w.Notifications():
		t.Errorf("message %q after /hang", msg)
	case <-time.After(5 * pingEvery):
	}

	c := proctest.Open(t, addr)
	c.Timeout = 10 * pingEvery
	if resp, err := c.Get("/health"); err == nil {
		t.Errorf("a hung demo answered %d %q", resp.Status, resp.Body)
	}
}
