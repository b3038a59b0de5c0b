package master

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultControlPath derives a per-user control socket path from the
// cluster's name: $XDG_RUNTIME_DIR/clusterd/NAME.sock, /run/clusterd for
// root, and a private directory under the temp dir otherwise.
func DefaultControlPath(name string) (string, error) {
	if name == "" || filepath.Base(name) != name || name == "." || name == ".." {
		return "", fmt.Errorf("--name %q must be a plain name without '/'", name)
	}
	var dir string
	switch {
	case os.Getenv("XDG_RUNTIME_DIR") != "":
		dir = filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "clusterd")
	case os.Getuid() == 0:
		dir = "/run/clusterd"
	default:
		dir = filepath.Join(os.TempDir(), "clusterd-"+strconv.Itoa(os.Getuid()))
	}
	return filepath.Join(dir, name+".sock"), nil
}

// request and response are the control protocol: one JSON line each way.
type request struct {
	Command string `json:"command"` // status, reload, stop, scale, logs, reopen-logs
	Arg     string `json:"arg,omitempty"`
	// Usage asks status to sample each worker's CPU and memory, which
	// takes cpuSampleWindow.
	Usage bool `json:"usage,omitempty"`
	// Lines and Follow are the logs command's: how many recent lines, and
	// whether to stream new ones.
	Lines  int  `json:"lines,omitempty"`
	Follow bool `json:"follow,omitempty"`
}

type response struct {
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// controlServer accepts control connections from our own user only.
type controlServer struct {
	path     string
	ln       *net.UnixListener
	handlers sync.WaitGroup
}

// listenControl binds the control socket, mode 0600 in a 0700 directory.
// A live socket at path means another master runs there: that is an error,
// never something to take over.
func listenControl(path string) (*controlServer, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if err := checkPrivateDir(dir); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		if st, err := (&Client{Path: path, Timeout: time.Second}).Status(); err == nil {
			return nil, fmt.Errorf("control socket %s is in use by another clusterd master (name %q, pid %d): give this one its own --name or --control", path, st.Name, st.PID)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &controlServer{path: path, ln: ln}, nil
}

// checkPrivateDir refuses a directory that someone else could have planted
// in a shared temp dir.
func checkPrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok {
		return fmt.Errorf("control socket directory %s is not a directory", dir)
	}
	if int(st.Uid) != os.Getuid() && st.Uid != 0 {
		return fmt.Errorf("control socket directory %s belongs to uid %d, not to us", dir, st.Uid)
	}
	return nil
}

func (c *controlServer) serve(handle func(*net.UnixConn)) {
	for {
		conn, err := c.ln.AcceptUnix()
		if err != nil {
			return // closed
		}
		if !peerIsOurUser(conn) {
			conn.Close()
			continue
		}
		c.handlers.Add(1)
		go func() {
			defer c.handlers.Done()
			defer conn.Close()
			handle(conn)
		}()
	}
}

// handOver stops accepting but leaves the socket's path: a new master
// serves it now.
func (c *controlServer) handOver() {
	c.ln.SetUnlinkOnClose(false)
	c.ln.Close()
}

// close stops accepting, lets answers in flight finish, and removes the
// socket file.
func (c *controlServer) close() {
	c.ln.Close() // a net.UnixListener removes its path on Close
	done := make(chan struct{})
	go func() { c.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

// peerIsOurUser checks SO_PEERCRED: the control socket answers only the
// user the master runs as (and root).
func peerIsOurUser(conn *net.UnixConn) bool {
	raw, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false
	}
	return int(cred.Uid) == os.Getuid() || cred.Uid == 0
}

// handleControl answers one request. It runs on the connection's goroutine
// and reaches the master's state only through the event loop.
func (m *Master) handleControl(conn *net.UnixConn) {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := readRequest(conn)
	if err != nil {
		writeResponse(conn, response{Error: "bad request: " + err.Error()})
		return
	}
	conn.SetReadDeadline(time.Time{})
	switch req.Command {
	case "status":
		var st Status
		if !m.call(func() { st = m.status() }) {
			writeResponse(conn, response{Error: ErrStopped.Error()})
			return
		}
		if req.Usage {
			sampleUsage(&st, cpuSampleWindow) // off the loop: it reads /proc and waits
		}
		writeResponse(conn, response{OK: true, Status: &st})
	case "reload":
		if req.Arg == "all" && m.cfg.ReloadAll != nil {
			// Every app of this process, as SIGHUP does; answered when all
			// have finished.
			if err := m.cfg.ReloadAll(); err != nil {
				writeResponse(conn, response{Error: err.Error()})
				return
			}
			writeResponse(conn, response{OK: true})
			return
		}
		m.answerWhenDone(conn, "reload", m.requestReload)
	case "scale":
		var st Status
		err := ErrStopped
		m.call(func() {
			var target int
			if target, err = ParseScale(req.Arg, len(m.slots)); err == nil {
				err = m.scaleTo(target)
			}
			st = m.status()
		})
		if err != nil {
			writeResponse(conn, response{Error: err.Error()})
			return
		}
		writeResponse(conn, response{OK: true, Status: &st})
	case "logs":
		m.serveLogs(conn, req)
	case "reopen-logs":
		m.answerReopenLogs(conn)
	case "upgrade":
		m.answerWhenDone(conn, "upgrade", m.requestUpgrade)
	case "stop":
		m.post(func() { m.beginStop("clusterd stop") })
		<-m.done
		writeResponse(conn, response{OK: true})
	default:
		writeResponse(conn, response{Error: fmt.Sprintf("unknown command %q", req.Command)})
	}
}

// maxRequestBytes bounds a request line (every request is a short JSON
// object), so a client cannot make the master buffer without end.
const maxRequestBytes = 64 << 10

// readRequest decodes one request line, the control protocol's only input
// (a seam of its own so that it can be fuzzed without a socket).
func readRequest(r io.Reader) (request, error) {
	var req request
	line, err := bufio.NewReader(io.LimitReader(r, maxRequestBytes)).ReadBytes('\n')
	if err == io.EOF && len(line) == maxRequestBytes {
		err = fmt.Errorf("longer than %d bytes", maxRequestBytes)
	}
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	return req, err
}

// answerWhenDone starts a long operation on the event loop (a reload, an
// upgrade) and answers the client with its outcome, however long it takes.
func (m *Master) answerWhenDone(conn net.Conn, what string, start func(reply func(error))) {
	result := make(chan error, 1)
	m.post(func() { start(func(err error) { result <- err }) })
	select {
	case err := <-result:
		if err != nil {
			writeResponse(conn, response{Error: err.Error()})
			return
		}
		writeResponse(conn, response{OK: true})
	case <-m.done:
		writeResponse(conn, response{Error: "the master stopped during the " + what})
	}
}

func writeResponse(conn net.Conn, resp response) {
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	b, _ := json.Marshal(resp)
	conn.Write(append(b, '\n'))
}

// Client talks to a running master over its control socket.
type Client struct {
	Path string
	// Timeout bounds connecting and, for status, the whole exchange.
	// Reload and stop wait as long as the master takes.
	Timeout time.Duration
}

// ErrNoMaster means nothing answers at the control socket path.
var ErrNoMaster = errors.New("no clusterd master is running there")

func (c *Client) do(command string, wait bool) (*response, error) {
	return c.send(request{Command: command}, wait)
}

func (c *Client) send(req request, wait bool) (*response, error) {
	conn, err := c.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if !wait {
		conn.SetDeadline(time.Now().Add(c.timeout()))
	}
	resp, _, err := c.exchange(conn, req)
	return resp, err
}

func (c *Client) timeout() time.Duration {
	if c.Timeout == 0 {
		return 5 * time.Second
	}
	return c.Timeout
}

func (c *Client) dial() (net.Conn, error) {
	conn, err := net.DialTimeout("unix", c.Path, c.timeout())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, fmt.Errorf("control socket %s: %w (start one, or pass the master's --name or --control)", c.Path, ErrNoMaster)
		}
		return nil, fmt.Errorf("control socket %s: %w", c.Path, err)
	}
	return conn, nil
}

// exchange sends req and reads the response line; the reader holds what
// follows it (the logs command streams lines after its response).
func (c *Client) exchange(conn net.Conn, req request) (*response, *bufio.Reader, error) {
	b, _ := json.Marshal(req)
	r := bufio.NewReader(conn)
	var line []byte
	_, err := conn.Write(append(b, '\n'))
	if err == nil {
		line, err = r.ReadBytes('\n')
	}
	if err != nil {
		// A master closes connections of other users unanswered.
		return nil, nil, fmt.Errorf("control socket %s: no answer (%v): is it a clusterd master's, run by your user?", c.Path, err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, nil, fmt.Errorf("control socket %s does not speak clusterd's protocol: %v", c.Path, err)
	}
	if !resp.OK {
		return &resp, nil, errors.New(resp.Error)
	}
	return &resp, r, nil
}

// Status asks the master for its status.
func (c *Client) Status() (*Status, error) {
	return c.status(false)
}

// StatusWithUsage is Status with each worker's CPU% and memory, sampled
// over a quarter of a second.
func (c *Client) StatusWithUsage() (*Status, error) {
	return c.status(true)
}

func (c *Client) status(usage bool) (*Status, error) {
	resp, err := c.send(request{Command: "status", Usage: usage}, false)
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, fmt.Errorf("control socket %s: answer without a status", c.Path)
	}
	return resp.Status, nil
}

// Reload runs a rolling reload and returns when it has finished; the error
// says why it was aborted.
func (c *Client) Reload() error {
	_, err := c.do("reload", true)
	return err
}

// ReloadAll reloads every app of the master's process (the apps of a config
// file, with any the file has gained started), or the master alone.
func (c *Client) ReloadAll() error {
	_, err := c.send(request{Command: "reload", Arg: "all"}, true)
	return err
}

// Scale sets the number of instances: "N", "+K" or "-K". It returns the
// status right after: new workers are starting, surplus ones draining.
func (c *Client) Scale(arg string) (*Status, error) {
	resp, err := c.send(request{Command: "scale", Arg: arg}, false)
	if err != nil {
		return nil, err
	}
	return resp.Status, nil
}

// Upgrade replaces the master with the binary on disk and returns once
// the new master's workers are ready (the old master is then retiring).
func (c *Client) Upgrade() error {
	_, err := c.do("upgrade", true)
	return err
}

// Stop stops the master gracefully and returns once it has exited.
func (c *Client) Stop() error {
	_, err := c.do("stop", true)
	return err
}
