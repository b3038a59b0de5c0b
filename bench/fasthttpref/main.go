// Command fasthttpref is the bench's reference Go server: a bare fasthttp program that
// answers "/" with the same bytes as `clusterd demo` (status line, Server, Content-Type,
// X-Worker-Pid, body) and the same timeouts, and holds nothing else: no worker library, no
// drain, no crash switch, none of clusterd's packages. Scenario 1 runs two of them on one
// inherited socket, placed as clusterd places its workers, as the limit `clusterd -i 2 --
// clusterd demo` is held to in req/s and in CPU per request.
//
// It serves fd 3 (LISTEN_FDS, as sd_listen_fds(3) hands it over), writes "READY=1" to the
// descriptor NOTIFY_FD names once it serves, and ends on SIGTERM by the default action.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	if os.Getenv("LISTEN_FDS") != "1" {
		fmt.Fprintln(os.Stderr, "fasthttpref: needs exactly one inherited socket (LISTEN_FDS=1, fd 3)")
		os.Exit(2)
	}
	ln, err := net.FileListener(os.NewFile(3, "listen"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fasthttpref: fd 3:", err)
		os.Exit(2)
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	hello := []byte("hello from worker pid=" + string(pid) + "\n")
	workerPid := []byte("X-Worker-Pid")
	// Configured as the demo configures fasthttp (name and timeouts: each timeout arms a
	// deadline per request), so that what differs is the code around the server.
	srv := &fasthttp.Server{
		Name:         "clusterd-demo",
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  120 * time.Second,
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.SetCanonical(workerPid, pid)
			ctx.SetBody(hello)
		},
	}
	if fd, err := strconv.Atoi(os.Getenv("NOTIFY_FD")); err == nil {
		notify := os.NewFile(uintptr(fd), "notify")
		notify.WriteString("READY=1\n")
	}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "fasthttpref:", err)
		os.Exit(1)
	}
}
