// Package load is an HTTP/1.1 load generator that accounts for every request it issues.
//
// It exists because the project's promise is "0 failed requests during a reload", and wrk
// cannot prove that: a refused connection shows up as a write error and a request that never
// got an answer is not counted at all (docs/design.md §15). Here every issued request ends
// in exactly one of three places, so Issued == Answered + FailedTotal() + Unanswered always
// holds.
//
// It speaks HTTP/1.1 over raw TCP or unix sockets with hand-written requests and a small
// response parser. It does not use net/http's or fasthttp's client on purpose: both retry a
// failed idempotent request on a fresh connection without telling the caller, which is
// exactly the failure a reload test has to see. This package never retries.
//
// By project rule it only talks to loopback addresses and unix sockets.
//
// Not done: TLS, HTTP/2, pipelining, request bodies, methods other than GET, and responses
// to HEAD (their headers describe a body that is not sent).
package load
