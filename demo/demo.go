package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clusterd/clusterd/worker"
	"github.com/clusterd/clusterd/worker/fasthttpworker"
	"github.com/valyala/fasthttp"
)

// DefaultListen is where the demo listens when it was not started by a master.
const DefaultListen = "127.0.0.1:3000"

// CrashExitCode is the exit status of a deliberate crash (/crash, Options.CrashRate):
// EX_SOFTWARE from sysexits.h.
const CrashExitCode = 70

// maxAllocMiB bounds one /alloc request, so a typo cannot ask for petabytes.
const maxAllocMiB = 1 << 16

// Options configure the demo worker.
type Options struct {
	// Listen is the TCP address to serve when the process was not started by a master;
	// empty means DefaultListen. Under a master the inherited sockets are served instead.
	Listen string
	// CrashRate is the probability, from 0 to 1, that a request kills the process (exit
	// status 70, no answer), to try crash recovery under load.
	CrashRate float64
	// DrainTimeout bounds the wait for open connections after SIGTERM; 0 means
	// fasthttpworker.DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// Run serves the demo until SIGTERM or SIGINT, then drains and returns nil, or until a
// crash endpoint ends the process. It pings the watchdog when the master asks for it
// (WATCHDOG_USEC), until /hang.
func Run(opts Options) error {
	if !(opts.CrashRate >= 0 && opts.CrashRate <= 1) { // also rejects NaN
		return fmt.Errorf("demo: crash rate %v is not between 0 and 1", opts.CrashRate)
	}
	listen := opts.Listen
	if listen == "" {
		listen = DefaultListen
	}
	watchdog, err := worker.StartWatchdog(context.Background())
	if err != nil {
		return err
	}
	defer watchdog.Stop()

	d := newServer(opts.CrashRate, os.Exit, watchdog.Stop)
	return fasthttpworker.Serve(d.fasthttp(), fasthttpworker.Options{
		FallbackAddr: listen,
		DrainTimeout: opts.DrainTimeout,
	})
}

// server is the demo's state; the handler is its only entry point.
type server struct {
	crashRate    float64
	exit         func(code int) // os.Exit; never returns in production
	stopWatchdog func()

	pid   []byte // X-Worker-Pid value
	hello []byte // body of "/"

	hung atomic.Bool
	sick atomic.Bool

	mu      sync.Mutex
	kept    [][]byte // what /alloc keeps alive
	keptMiB int
}

func newServer(crashRate float64, exit func(int), stopWatchdog func()) *server {
	pid := strconv.Itoa(os.Getpid())
	return &server{
		crashRate:    crashRate,
		exit:         exit,
		stopWatchdog: stopWatchdog,
		pid:          []byte(pid),
		hello:        []byte("hello from worker pid=" + pid + "\n"),
	}
}

func (d *server) fasthttp() *fasthttp.Server {
	return &fasthttp.Server{
		Handler: d.handle,
		Name:    "clusterd-demo",
		// ReadTimeout bounds reading one request (and waiting for a new connection's
		// first byte); IdleTimeout is how long a keep-alive connection may sit between
		// requests. Long, so benchmark clients are not cut off mid-run.
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  120 * time.Second,
		// fasthttp logs per-connection errors; a demo under load would log thousands.
		// Errors that matter (a failing socket) are returned by Serve instead.
		Logger: quietLogger{},
	}
}

var headerWorkerPid = []byte("X-Worker-Pid")

func (d *server) handle(ctx *fasthttp.RequestCtx) {
	if d.hung.Load() {
		select {} // never answer again
	}
	if d.crashRate > 0 && rand.Float64() < d.crashRate {
		d.exit(CrashExitCode)
		return
	}
	// Set first; nothing below resets the headers (fasthttp's ctx.Error would).
	ctx.Response.Header.SetCanonical(headerWorkerPid, d.pid)
	args := ctx.QueryArgs()
	switch string(ctx.Path()) {
	case "/":
		ctx.SetBody(d.hello)
	case "/sleep":
		ms, err := args.GetUint("ms")
		if err != nil {
			answer(ctx, fasthttp.StatusBadRequest, "ms must be a number of milliseconds\n")
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		answer(ctx, fasthttp.StatusOK, "slept "+strconv.Itoa(ms)+" ms\n")
	case "/crash":
		d.exit(CrashExitCode)
	case "/alloc":
		mb, err := args.GetUint("mb")
		if err != nil || mb <= 0 || mb > maxAllocMiB {
			answer(ctx, fasthttp.StatusBadRequest, "mb must be a number from 1 to "+strconv.Itoa(maxAllocMiB)+"\n")
			return
		}
		answer(ctx, fasthttp.StatusOK, "kept "+strconv.Itoa(d.alloc(mb))+" MiB\n")
	case "/hang":
		d.hang()
	case "/sick":
		d.sick.Store(true)
		worker.Notify("STATUS=sick: /health answers 503")
		answer(ctx, fasthttp.StatusOK, "sick: /health now answers 503\n")
	case "/health":
		if d.sick.Load() {
			answer(ctx, fasthttp.StatusServiceUnavailable, "sick\n")
			return
		}
		answer(ctx, fasthttp.StatusOK, "ok\n")
	case "/env":
		value, ok := os.LookupEnv(string(args.Peek("name")))
		if !ok {
			answer(ctx, fasthttp.StatusNotFound, "not set\n")
			return
		}
		answer(ctx, fasthttp.StatusOK, value+"\n")
	default:
		answer(ctx, fasthttp.StatusNotFound, "not found\n")
	}
}

func answer(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.SetStatusCode(status)
	ctx.SetBodyString(body)
}

// alloc keeps mb more MiB and returns the total kept. Every page is written: memory the
// runtime got from the kernel and never touched is not resident, and the point of
// /alloc is to grow the RSS a memory limit watches.
func (d *server) alloc(mb int) int {
	buf := make([]byte, mb<<20)
	page := os.Getpagesize()
	for i := 0; i < len(buf); i += page {
		buf[i] = 1
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.kept = append(d.kept, buf)
	d.keptMiB += mb
	return d.keptMiB
}

// hang makes every handler block from now on, this one included, and stops the watchdog
// pings: a worker that serves nothing but whose runtime still runs, which only a watchdog
// (or a health check) can tell from a healthy one.
func (d *server) hang() {
	d.hung.Store(true)
	d.stopWatchdog()
	// After the last ping, so a supervisor (or test) reading the messages in order sees
	// no WATCHDOG=1 after this one.
	worker.Notify("STATUS=hung: /hang was requested")
	select {}
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
