// Package demo is the worker `clusterd demo` runs: a small fasthttp server that can be told
// to crash, hang, leak memory or turn unhealthy, so that every supervisor feature (restart
// on crash, watchdog, memory limit, health check, zero-loss reload) can be tried and
// measured without writing an application first.
//
// It is also the reference Go worker: [Run] serves through fasthttpworker.Serve, which
// takes the master's sockets, reports ready and drains on SIGTERM without failing a
// request.
//
// Endpoints (every answer carries "X-Worker-Pid: <pid>"):
//
//	/              200 "hello from worker pid=<pid>"
//	/sleep?ms=N    sleeps N ms, then 200
//	/crash         the process exits at once with status 70, answering nothing
//	/alloc?mb=N    keeps N more MiB allocated and touched (resident); answers the total kept
//	/hang          from then on no request is answered and watchdog pings stop
//	/sick          from then on /health answers 503
//	/health        200 "ok", or 503 after /sick
//	/env?name=X    the value of environment variable X, or 404 if it is unset
//
// With Options.CrashRate P, each request first kills the process as /crash does, with
// probability P.
//
// # GOMAXPROCS for Go workers
//
// Go sizes its scheduler to the CPUs the process may use (GOMAXPROCS: the CPU count, or a
// cgroup CPU limit since Go 1.25), not to its share of them, so N Go workers on N CPUs
// each run N scheduler threads. docs/design.md §17 measured two fasthttp workers with
// GOMAXPROCS=2 at about 0.9 of the same workers with GOMAXPROCS=1 on 2 cores. Two demo
// workers sharing one socket on the same 2-core machine, loaded by bench/loadgen with 64
// connections in paired 5-second runs, gave GOMAXPROCS=2 / GOMAXPROCS=1 throughput ratios
// of 0.63 to 1.21 (median 0.99) with keep-alive and 0.91 to 1.29 (median 1.04) with a
// connection per request: run-to-run noise larger than the effect.
//
// So there is no default to hard-code, and this package sets none. What to weigh:
// GOMAXPROCS=1 removes the scheduler contention, but it also caps each worker at one CPU,
// and workers sharing a socket get unequal shares of keep-alive connections (note 10), so
// the busiest worker cannot borrow the idle CPU. Try GOMAXPROCS=1 in the workers'
// environment when connections are short-lived or evenly spread, and keep it only if a
// side-by-side run of both settings shows a gain for the application.
package demo
