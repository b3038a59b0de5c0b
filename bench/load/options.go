package load

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// Options describe one run. The zero value of each field is its documented default.
type Options struct {
	// Addr is "127.0.0.1:3000", "[::1]:3000", "localhost:3000" or "unix:/path/to.sock".
	// Anything that is not loopback or a unix socket is refused: load is never sent off the
	// machine.
	Addr string
	// Path is the request target, default "/".
	Path string
	// Host is the Host header, default Addr (or "localhost" for a unix socket).
	Host string
	// Concurrency is the number of connections, each driven by its own goroutine; default 1.
	Concurrency int
	// Duration stops the issuing of new requests once it has passed since the start.
	// Requests in flight then may finish, each within its Timeout. 0 means no time limit.
	Duration time.Duration
	// MaxRequests stops the issuing of new requests once this many were issued in total.
	// 0 means no limit.
	MaxRequests int64
	// KeepAlive reuses each connection until the server says it will close it. When false,
	// every request dials its own connection and sends "Connection: close".
	KeepAlive bool
	// Timeout bounds one request: dial (if it needs one), write and the whole response.
	// Default 5s.
	Timeout time.Duration
	// Rate caps the total requests per second over all connections; 0 means as fast as
	// the connections go.
	Rate float64
	// Stop, when closed, ends the run like Duration does: no new request is issued and
	// requests in flight may finish. Tests use it to stop load once what they exercise
	// under load is done, without guessing a duration.
	Stop <-chan struct{}
	// Progress, if set, is incremented by every answered request while the run goes on,
	// so a caller can wait for traffic to flow. It costs a shared atomic per answer.
	Progress *atomic.Int64
	// Samples keeps one Sample per issued request in Result.Samples, for figures over time
	// (the latency of new connections in the second after a worker was killed). It costs
	// 32 bytes per request; keep runs that use it short.
	Samples bool
}

const defaultTimeout = 5 * time.Second

// plan is Options checked and turned into what the workers need.
type plan struct {
	network, address string
	request          []byte // the whole request, written with one Write
	concurrency      int
	duration         time.Duration
	maxRequests      int64
	keepAlive        bool
	timeout          time.Duration
	interval         time.Duration // between request starts under Rate, 0 = unpaced
	stop             <-chan struct{}
	progress         *atomic.Int64
	keepSamples      bool
}

func (o Options) plan() (plan, error) {
	p := plan{
		stop:        o.Stop,
		progress:    o.Progress,
		keepSamples: o.Samples,
		concurrency: max(o.Concurrency, 1),
		duration:    o.Duration,
		maxRequests: o.MaxRequests,
		keepAlive:   o.KeepAlive,
		timeout:     o.Timeout,
	}
	if p.timeout == 0 {
		p.timeout = defaultTimeout
	}
	switch {
	case o.Concurrency < 0, o.Duration < 0, o.MaxRequests < 0, o.Timeout < 0:
		return plan{}, errors.New("load: Concurrency, Duration, MaxRequests and Timeout must not be negative")
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return plan{}, fmt.Errorf("load: Rate %v is not a finite number >= 0", o.Rate)
	}
	if o.Rate > 0 {
		p.interval = time.Duration(float64(time.Second) / o.Rate)
	}

	var err error
	p.network, p.address, err = loopback(o.Addr)
	if err != nil {
		return plan{}, err
	}

	path := o.Path
	if path == "" {
		path = "/"
	}
	host := o.Host
	switch {
	case host != "":
	case p.network == "unix":
		host = "localhost"
	default:
		host = o.Addr
	}
	if path[0] != '/' || !isToken(path) {
		return plan{}, fmt.Errorf("load: Path %q must start with / and hold no spaces or control characters", path)
	}
	if !isToken(host) {
		return plan{}, fmt.Errorf("load: Host %q holds spaces or control characters", host)
	}

	connection := ""
	if !p.keepAlive {
		connection = "Connection: close\r\n"
	}
	p.request = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: clusterd-load\r\n%s\r\n",
		path, host, connection)
	return p, nil
}

// loopback splits addr into a network and address for net.Dial, refusing any address that
// could leave the machine. "localhost" is taken at its word.
func loopback(addr string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return "", "", errors.New("load: Addr \"unix:\" has no socket path")
		}
		return "unix", path, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("load: Addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return "", "", fmt.Errorf("load: Addr %q is not a loopback address or unix socket; "+
			"load is only ever sent to this machine", addr)
	}
	return "tcp", addr, nil
}

// isToken reports whether s can go into a request line or header as is.
func isToken(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}
