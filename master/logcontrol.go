package master

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The "logs" command answers {"ok":true} and then one LogMessage per line:
// the newest req.Lines lines, then, with req.Follow, every new line until
// the client hangs up or the master stops. It runs on the connection's
// goroutine and reads the ring, never the event loop.
func (m *Master) serveLogs(conn *net.UnixConn, req request) {
	var recent []LogLine
	var follower *logFollower
	if req.Follow {
		recent, follower = m.logs.ring.follow(req.Lines, followBuffer)
		defer m.logs.ring.unfollow(follower)
	} else {
		recent = m.logs.ring.last(req.Lines)
	}
	writeResponse(conn, response{OK: true})
	w := bufio.NewWriter(conn)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if !req.Follow {
		// A client that stops reading must not hold this goroutine for ever.
		conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	} else {
		conn.SetWriteDeadline(time.Time{})
	}
	for i := range recent {
		if enc.Encode(LogMessage{Line: &recent[i]}) != nil {
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
		case msg := <-follower.ch:
			if enc.Encode(msg) != nil {
				return
			}
			// Write a burst in one go, but never keep a line waiting.
			if len(follower.ch) == 0 && w.Flush() != nil {
				return
			}
		case <-hungUp:
			return
		case <-m.done:
			return
		}
	}
}

func (m *Master) answerReopenLogs(conn *net.UnixConn) {
	if err := m.reopenLogs("clusterd reopen-logs"); err != nil {
		writeResponse(conn, response{Error: err.Error()})
		return
	}
	writeResponse(conn, response{OK: true})
}

// Logs calls each for the newest lines lines of the master's workers, oldest
// first. With follow it then calls each for every new line until each
// returns an error or the master stops; a message with Dropped set says that
// many lines were left out because this client read too slowly.
func (c *Client) Logs(lines int, follow bool, each func(LogMessage) error) error {
	conn, err := c.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	if !follow {
		conn.SetDeadline(time.Now().Add(c.timeout()))
	}
	_, r, err := c.exchange(conn, request{Command: "logs", Lines: lines, Follow: follow})
	if err != nil {
		return err
	}
	dec := json.NewDecoder(r)
	for {
		var msg LogMessage
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
