// Command loadgen sends HTTP/1.1 load to a loopback address and accounts for every request
// (see package load). It exits 1 if any request failed or went unanswered, so a reload test
// can assert "0 failed requests" by its exit code; 2 for bad flags.
//
//	loadgen -addr 127.0.0.1:3000 -c 64 -d 30s
//	loadgen -addr unix:/run/app.sock -n 100000 -keepalive=false -json
//
// Ctrl-C ends the run early; requests then in flight count as unanswered.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/bench/load"
)

func main() {
	var o load.Options
	flag.StringVar(&o.Addr, "addr", "127.0.0.1:3000", `loopback "host:port" or "unix:/path"`)
	flag.StringVar(&o.Path, "path", "/", "request path")
	flag.StringVar(&o.Host, "host", "", "Host header (default: -addr)")
	flag.IntVar(&o.Concurrency, "c", 16, "connections")
	flag.DurationVar(&o.Duration, "d", 0, "stop issuing requests after this long (default 10s, none with -n)")
	flag.Int64Var(&o.MaxRequests, "n", 0, "stop after issuing this many requests (0: no limit)")
	flag.BoolVar(&o.KeepAlive, "keepalive", true, "reuse connections (false: one connection per request)")
	flag.DurationVar(&o.Timeout, "timeout", 5*time.Second, "per request: connect, write and read")
	flag.Float64Var(&o.Rate, "rate", 0, "cap on requests per second in total (0: no cap)")
	asJSON := flag.Bool("json", false, "print the result as JSON on stdout (the summary goes to stderr)")
	failOnError := flag.Bool("fail-on-error", true, "exit 1 if any request failed or went unanswered")
	flag.Parse()
	if o.Duration == 0 && o.MaxRequests == 0 {
		o.Duration = 10 * time.Second
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := load.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // says "load: ..."
		os.Exit(2)
	}

	if *asJSON {
		fmt.Fprintln(os.Stderr, r)
		out, _ := json.MarshalIndent(r, "", "  ")
		fmt.Println(string(out))
	} else {
		fmt.Println(r)
	}
	if *failOnError && r.FailedTotal()+r.Unanswered > 0 {
		os.Exit(1)
	}
}
