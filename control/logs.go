package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/clusterd/clusterd/logcapture"
)

// logsWriteTimeout is how long a logs client may leave a write waiting.
const logsWriteTimeout = 30 * time.Second

// followBuffer is how many lines may wait for a `logs --follow` client
// before it loses some.
const followBuffer = 1024

// The "logs" command answers {"ok":true} and then one LogMessage per line:
// the newest req.Lines lines, then, with req.Follow, every new line until
// the client hangs up or the master stops. It runs on the connection's
// goroutine and reads the ring, never the event loop; done ends a
// follow when the master stops.
func ServeLogs(conn net.Conn, req Request, ring *logcapture.Ring, done <-chan struct{}) {
	var recent []logcapture.LogLine
	var follower *logcapture.Follower
	if req.Follow {
		recent, follower = ring.Follow(req.Lines, followBuffer)
		defer ring.Unfollow(follower)
	} else {
		recent = ring.Last(req.Lines)
	}
	WriteResponse(conn, Response{OK: true})
	w := bufio.NewWriter(conn)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	// A client that stops reading must not hold this goroutine, nor what
	// waits for it, for ever: every write must go through within the
	// deadline (a follower's lines are capped in bytes meanwhile).
	conn.SetWriteDeadline(time.Now().Add(logsWriteTimeout))
	for i := range recent {
		if enc.Encode(logcapture.LogMessage{Line: &recent[i]}) != nil {
			return
		}
	}
	if w.Flush() != nil || follower == nil {
		return
	}
	// The client sends nothing more: a read returns when it hangs up.
	hungUp := make(chan struct{})
	go func() {
		conn.Read(make([]byte, 1))
		close(hungUp)
	}()
	for {
		select {
		case msg := <-follower.Messages():
			conn.SetWriteDeadline(time.Now().Add(logsWriteTimeout))
			err := enc.Encode(msg)
			follower.Consumed(msg)
			if err != nil {
				return
			}
			// Write a burst in one go, but never keep a line waiting.
			if len(follower.Messages()) == 0 && w.Flush() != nil {
				return
			}
		case <-hungUp:
			return
		case <-done:
			return
		}
	}
}

// Logs calls each for the newest lines lines of the master's workers, oldest
// first. With follow it then calls each for every new line until each
// returns an error or the master stops; a message with Dropped set says that
// many lines were left out because this client read too slowly.
func (c *Client) Logs(lines int, follow bool, each func(logcapture.LogMessage) error) error {
	conn, err := c.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if !follow {
		conn.SetDeadline(time.Now().Add(c.timeout()))
	}
	_, r, err := c.exchange(conn, Request{Command: "logs", Lines: lines, Follow: follow})
	if err != nil {
		return err
	}
	dec := json.NewDecoder(r)
	for {
		var msg logcapture.LogMessage
		err := dec.Decode(&msg)
		switch {
		case errors.Is(err, io.EOF) && follow:
			return fmt.Errorf("control socket %s: the master closed the log stream (stopped?)", c.Path)
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("control socket %s: reading logs: %w", c.Path, err)
		}
		if err := each(msg); err != nil {
			return err
		}
	}
}

// ReopenLogs makes the master reopen its log files, as SIGUSR1 does.
func (c *Client) ReopenLogs() error {
	_, err := c.do("reopen-logs", false)
	return err
}
