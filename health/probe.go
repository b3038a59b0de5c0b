// Package health probes one worker's private health socket over HTTP. It
// is apart from package master, which schedules the probes and judges
// their results, because the probe needs none of the master's state: it is
// a plain client, tested against a plain unix socket.
package health

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxProbeAnswer bounds what a probe reads of an answer. Only the status
// line counts; without a bound, a worker streaming bytes and no newline grew
// the master by what it sent until the timeout (2.1 GB in 12 s, issue 13).
const maxProbeAnswer = 4 << 10

// Probe asks the worker's health socket for path and wants a 2xx.
func Probe(socket, path string, timeout time.Duration) error {
	conn, err := net.DialTimeout("unix", socket, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: clusterd-health\r\n\r\n", path); err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(conn, maxProbeAnswer)).ReadString('\n')
	if err == io.EOF && len(line) == maxProbeAnswer {
		return fmt.Errorf("no status line in the first %d bytes of the answer", maxProbeAnswer)
	}
	if err != nil {
		return fmt.Errorf("no answer within %s: %w", timeout, err)
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return fmt.Errorf("not an HTTP answer: %.100q", line)
	}
	code, err := strconv.Atoi(fields[1])
	if err != nil || code < 200 || code > 299 {
		return fmt.Errorf("status %s", strings.TrimSpace(strings.Join(fields[1:], " ")))
	}
	return nil
}
