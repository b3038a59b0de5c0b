package notify

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The Node IPC channel (--node-ipc): what PM2 gives its apps, so an app
// written for PM2 says it is ready with process.send('ready') and can be
// asked to stop with the message 'shutdown' (--shutdown-with-message).
// Node opens NODE_CHANNEL_FD as a stream socket and, in its "json"
// serialization mode, writes one JSON value per line.
//
// Under --node-compat the channel also carries the Node preload's listen
// requests (docs/design.md §21): a worker's server.listen(port) asks the
// master for the socket, and the master answers as Node's own cluster
// primary does, with the listening socket attached (SCM_RIGHTS) to a
// NODE_HANDLE message that Node turns back into a server handle.
type NodeChannel struct {
	conn   *net.UnixConn // the master's end
	worker *os.File      // the worker's end, closed here once it has started
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
	return &NodeChannel{conn: conn.(*net.UnixConn), worker: os.NewFile(uintptr(pair[1]), "node-ipc-worker")}, nil
}

// ListenCmd is the command of the preload's listen request and of the
// master's answer. Node hands a message whose cmd starts with "NODE_" to its
// own internal listeners only, so the app's process.on('message') never
// sees either.
const ListenCmd = "NODE_CLUSTERD_LISTEN"

// ListenRequest is a worker's server.listen(Port, Host), as the preload
// sends it; Host is "" for Node's default (every interface, IPv6 and IPv4).
type ListenRequest struct {
	Seq  int    `json:"seq"`
	Host string `json:"host"`
	Port int    `json:"port"`
}

// message is what a line of the channel may hold that the master reads.
type message struct {
	Cmd string `json:"cmd"`
	ListenRequest
}

// Serve turns 'ready' into READY=1 for the notify path and answers listen
// requests with listen, which returns a descriptor the channel closes once
// it is sent (or an error for the worker's 'error' event). One request is
// answered before the next line is read, so a worker cannot queue work in
// the master faster than it is done. Other messages (PM2 apps send their
// own, Node acknowledges handles) are ignored.
func (c *NodeChannel) Serve(deliver func(msg string), listen func(ListenRequest) (fd int, err error)) {
	go func() {
		lines := bufio.NewScanner(c.conn)
		lines.Buffer(make([]byte, 4096), 1<<20)
		for lines.Scan() {
			line := lines.Bytes()
			if len(line) > 0 && line[0] == '{' {
				var msg message
				if listen != nil && json.Unmarshal(line, &msg) == nil && msg.Cmd == ListenCmd {
					fd, err := listen(msg.ListenRequest)
					if c.answerListen(msg.Seq, fd, err) != nil {
						return // the worker does not read its channel: it gets nothing more
					}
				}
				continue
			}
			var msg any
			if json.Unmarshal(line, &msg) == nil && msg == "ready" {
				deliver("READY=1")
			}
		}
	}()
}

// answerTimeout bounds how long an answer may wait for a worker that does
// not read its channel.
const answerTimeout = 5 * time.Second

// answerListen sends the socket fd (closing it) or err, in Node's wire
// format: the handle rides on a NODE_HANDLE message of type net.Native, which
// Node's channel acknowledges and delivers with the handle to the internal
// listener of the inner message.
func (c *NodeChannel) answerListen(seq int, fd int, err error) error {
	answer := map[string]any{"cmd": ListenCmd, "seq": seq}
	var oob []byte
	if err != nil {
		answer["error"] = err.Error()
		answer["code"] = errnoName(err)
	} else {
		defer unix.Close(fd)
		answer = map[string]any{"cmd": "NODE_HANDLE", "type": "net.Native", "msg": answer}
		oob = unix.UnixRights(fd)
	}
	line, _ := json.Marshal(answer)
	c.conn.SetWriteDeadline(time.Now().Add(answerTimeout))
	_, _, werr := c.conn.WriteMsgUnix(append(line, '\n'), oob, nil)
	c.conn.SetWriteDeadline(time.Time{})
	return werr
}

// errnoName is the error code Node would give the app for err
// (EADDRINUSE, EACCES, ...), or EINVAL.
func errnoName(err error) string {
	var errno syscall.Errno
	for e := err; e != nil; {
		if n, ok := e.(syscall.Errno); ok {
			errno = n
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if errno == 0 {
		return "EINVAL"
	}
	if name := unix.ErrnoName(errno); name != "" {
		return name
	}
	return "EINVAL"
}

// SendShutdown writes PM2's 'shutdown' message. It never waits (the event
// loop calls it): a worker that does not read its channel gets an error
// here, and the stop signal instead.
func (c *NodeChannel) SendShutdown() error {
	raw, err := c.conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgN(int(fd), []byte("\"shutdown\"\n"), nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		return true
	})
	if err != nil {
		return err
	}
	return serr
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
