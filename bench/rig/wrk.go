package rig

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// WrkLoad is one shape of load for wrk: connections and whether every request opens a new
// one (what a master in the data path would pay for).
type WrkLoad struct {
	Name        string `json:"name"`
	Connections int    `json:"connections"`
	KeepAlive   bool   `json:"keep_alive"`
}

func (l WrkLoad) String() string { return l.Name }

// The loads of the throughput scenarios: many or few keep-alive connections, and connection
// churn, which is where a master holding the socket would show.
var (
	KeepAlive64  = WrkLoad{"64 keep-alive connections", 64, true}
	KeepAlive256 = WrkLoad{"256 keep-alive connections", 256, true}
	NewConn64    = WrkLoad{"new connection per request, 64 at a time", 64, false}
)

// WrkResult is what one wrk run printed.
type WrkResult struct {
	RequestsPerSec float64       `json:"requests_per_sec"`
	Requests       int64         `json:"requests"`
	P50            time.Duration `json:"p50_ns"`
	P99            time.Duration `json:"p99_ns"`
	// Errors are wrk's socket errors and non-2xx/3xx responses. wrk does not count
	// requests that never got an answer (docs/design.md §15); the scenarios that must
	// account for every request use bench/load instead.
	Errors map[string]int64 `json:"errors,omitempty"`
}

// RunWrk drives addr with wrk for d (two threads: the machine has two cores and the load
// generator shares them with the servers; every figure is a ratio for that reason).
func (r *Rig) RunWrk(ctx context.Context, addr string, l WrkLoad, d time.Duration) (WrkResult, error) {
	args := []string{"-t2", "-c" + strconv.Itoa(l.Connections), "-d" + durationArg(d), "--latency",
		"--timeout", "5s"}
	if !l.KeepAlive {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, "http://"+addr+"/")
	out, err := Run(ctx, d+30*time.Second, nil, r.Wrk, args...)
	if err != nil {
		return WrkResult{}, err
	}
	return parseWrk(string(out))
}

// durationArg spells d for wrk, which takes whole seconds (no milliseconds): at least 1s.
func durationArg(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))) + "s"
}

var (
	wrkRate      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal     = regexp.MustCompile(`(\d+) requests in`)
	wrkPercent   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkSocketErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx    = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func parseWrk(out string) (WrkResult, error) {
	var r WrkResult
	m := wrkRate.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk printed no Requests/sec:\n%s", out)
	}
	r.RequestsPerSec, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkTotal.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range wrkPercent.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9}[m[3]]
		d := time.Duration(v * unit)
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	r.Errors = map[string]int64{}
	if m := wrkSocketErr.FindStringSubmatch(out); m != nil {
		for i, kind := range []string{"connect", "read", "write", "timeout"} {
			if n, _ := strconv.ParseInt(m[i+1], 10, 64); n > 0 {
				r.Errors[kind] = n
			}
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.Errors["non-2xx"], _ = strconv.ParseInt(m[1], 10, 64)
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
	return r, nil
}

// WrkVersion, for the report's header, is the first line of `wrk -v`, e.g. "wrk debian/4.1.0-3+b2 [epoll]".
func WrkVersion(ctx context.Context, wrk string) string {
	out, _ := Run(ctx, 5*time.Second, nil, wrk, "-v")
	line, _, _ := strings.Cut(string(out), "\n")
	line, _, _ = strings.Cut(line, " Copyright")
	if line == "" {
		return "unknown"
	}
	return strings.TrimSpace(line)
}
