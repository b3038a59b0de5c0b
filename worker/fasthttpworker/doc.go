// Package fasthttpworker runs a fasthttp server as a clusterd worker: it serves the
// sockets the master passed down, reports ready, and on SIGTERM or SIGINT drains without
// failing a request, then returns.
//
// fasthttp's own Shutdown is not enough for that: it closes idle keep-alive connections
// every 100 ms, and a client that sent a request on one just then gets no answer
// (fasthttp v1.78.0 server.go:2226-2230 and closeIdleConns at :3550; a request that
// arrives on a claimed connection is dropped silently at :2621). [Serve] drains first, as
// described on [worker.Drain], and calls Shutdown only once the connections are gone.
package fasthttpworker
