package notify

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// The Node IPC channel (--node-ipc): what PM2 gives its apps, so an app
// written for PM2 says it is ready with process.send('ready') and can be
// asked to stop with the message 'shutdown' (--shutdown-with-message).
// Node opens NODE_CHANNEL_FD as a stream socket and, in its "json"
// serialization mode, writes one JSON value per line.
type NodeChannel struct {
	conn   net.Conn // the master's end
	worker *os.File // the worker's end, closed here once it has started
}

func OpenNodeChannel() (*NodeChannel, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("node ipc channel: %w", err)
	}
	ours := os.NewFile(uintptr(pair[0]), "node-ipc")
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		unix.Close(pair[1])
		return nil, fmt.Errorf("node ipc channel: %w", err)
	}
	return &NodeChannel{conn: conn, worker: os.NewFile(uintptr(pair[1]), "node-ipc-worker")}, nil
}

// Serve turns 'ready' into READY=1 for the notify path; other messages
// (PM2 apps send their own) are ignored.
func (c *NodeChannel) Serve(deliver func(msg string)) {
	go func() {
		lines := bufio.NewScanner(c.conn)
		lines.Buffer(make([]byte, 4096), 1<<20)
		for lines.Scan() {
			var msg any
			if json.Unmarshal(lines.Bytes(), &msg) == nil && msg == "ready" {
				deliver("READY=1")
			}
		}
	}()
}

// SendShutdown writes PM2's 'shutdown' message.
func (c *NodeChannel) SendShutdown() error {
	_, err := c.conn.Write([]byte("\"shutdown\"\n"))
	return err
}

// WorkerEnd is the worker's end of the channel, to hand it as
// NODE_CHANNEL_FD; CloseWorkerEnd drops the master's copy once it has.
func (c *NodeChannel) WorkerEnd() uintptr { return c.worker.Fd() }

// CloseWorkerEnd drops the master's copy of the worker's end.
func (c *NodeChannel) CloseWorkerEnd() { c.worker.Close() }

// Close releases the channel.
func (c *NodeChannel) Close() {
	c.conn.Close()
	c.worker.Close()
}
