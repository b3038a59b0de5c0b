package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultPath derives a per-user control socket path from the
// cluster's name: $XDG_RUNTIME_DIR/clusterd/NAME.sock, /run/clusterd for
// root, and a private directory under the temp dir otherwise.
func DefaultPath(name string) (string, error) {
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

// Request and Response are the control protocol: one JSON line each way.
type Request struct {
	Command string `json:"command"` // status, reload, stop, scale, logs, reopen-logs
	Arg     string `json:"arg,omitempty"`
	// Usage asks status to sample each worker's CPU and memory, which
	// takes CPUSampleWindow.
	Usage bool `json:"usage,omitempty"`
	// Lines and Follow are the logs command's: how many recent lines, and
	// whether to stream new ones.
	Lines  int  `json:"lines,omitempty"`
	Follow bool `json:"follow,omitempty"`
}

type Response struct {
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Server accepts control connections from our own user only.
type Server struct {
	path     string
	ln       *net.UnixListener
	handlers sync.WaitGroup
	// owned: Close removes the socket's path, and pointer, if set, the
	// link to it in the per-user directory (see Point).
	owned   bool
	pointer string
}

// Listen binds the control socket, mode 0600 in a 0700 directory.
// A live socket at path means another master runs there: that is an error,
// never something to take over.
func Listen(path string) (*Server, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if err := checkPrivateDir(dir); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		// A socket that accepts a connection is live, however long its
		// master takes to answer (a busy one); only a refused connection
		// means stale.
		if Live(path) {
			who := "another clusterd master"
			if st, err := (&Client{Path: path, Timeout: time.Second}).Status(); err == nil {
				who = fmt.Sprintf("another clusterd master (name %q, pid %d)", st.Name, st.PID)
			}
			return nil, fmt.Errorf("control socket %s is in use by %s: give this one its own --name or --control", path, who)
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
	return &Server{path: path, ln: ln, owned: true}, nil
}

// Point makes a master whose socket is outside the per-user directory
// findable there: a symbolic link named after the app (DefaultPath(name))
// leads to the socket, so ls, stop all, kill and the verbs that take the
// app's name reach it; Close removes it. Nothing is made for a socket in
// that directory already. A live master at the link's place keeps it: this
// one is then reached by its own path only, which the error says.
func (c *Server) Point(name string) error {
	link, err := DefaultPath(name)
	if err != nil {
		return err
	}
	target := mustAbs(c.path)
	if filepath.Dir(target) == filepath.Dir(link) {
		return nil
	}
	if to, err := os.Readlink(link); err == nil && to == target {
		c.pointer = link // an upgrade's new master: the old one's link leads here already
		return nil
	}
	dir := filepath.Dir(link)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if err := checkPrivateDir(dir); err != nil {
		return err
	}
	if _, err := os.Lstat(link); err == nil {
		if Live(link) {
			return fmt.Errorf("%s leads to another live master: ls and the verbs do not find this one (give it its own --name)", link)
		}
		os.Remove(link) // a stale socket or link in our own directory
	}
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("link to the control socket: %w", err)
	}
	c.pointer = link
	return nil
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

func (c *Server) Serve(handle func(*net.UnixConn)) {
	var pause time.Duration
	for {
		conn, err := c.ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of descriptors (EMFILE) or a connection gone before it
			// was accepted: the socket is still fine, so wait a little and
			// go on, as net/http does, instead of going deaf for good.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
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

// handOver stops accepting but leaves the socket's path, and the link to
// it: a new master serves it now.
func (c *Server) HandOver() {
	c.owned = false
	c.ln.SetUnlinkOnClose(false)
	c.ln.Close()
}

// close stops accepting, lets answers in flight finish, and removes the
// socket file.
func (c *Server) Close() {
	c.ln.Close() // a net.UnixListener removes its path on Close
	if c.owned && c.pointer != "" {
		if to, err := os.Readlink(c.pointer); err == nil && to == mustAbs(c.path) {
			os.Remove(c.pointer) // still ours: no other master took the name meanwhile
		}
	}
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

func WriteResponse(conn net.Conn, resp Response) {
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

func (c *Client) do(command string, wait bool) (*Response, error) {
	return c.send(Request{Command: command}, wait)
}

func (c *Client) send(req Request, wait bool) (*Response, error) {
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
	if err := checkOwner(c.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	conn, err := net.DialTimeout("unix", c.Path, c.timeout())
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		// A master killed with SIGKILL leaves its socket behind.
		return nil, fmt.Errorf("control socket %s is stale: %w (its master is gone; start one, or pass the master's --name or --control)", c.Path, ErrNoMaster)
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("control socket %s: %w (start one, or pass the master's --name or --control)", c.Path, ErrNoMaster)
	case err != nil:
		return nil, fmt.Errorf("control socket %s: %w", c.Path, err)
	}
	return conn, nil
}

// exchange sends req and reads the Response line; the reader holds what
// follows it (the logs command streams lines after its Response).
func (c *Client) exchange(conn net.Conn, req Request) (*Response, *bufio.Reader, error) {
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
	var resp Response
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
	resp, err := c.send(Request{Command: "status", Usage: usage}, false)
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
	_, err := c.send(Request{Command: "reload", Arg: "all"}, true)
	return err
}

// Scale sets the number of instances: "N", "+K" or "-K". It returns the
// status right after: new workers are starting, surplus ones draining.
func (c *Client) Scale(arg string) (*Status, error) {
	resp, err := c.send(Request{Command: "scale", Arg: arg}, false)
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

// ReadRequest reads one request line, waiting at most timeout for it.
func ReadRequest(conn net.Conn, timeout time.Duration) (Request, error) {
	conn.SetReadDeadline(time.Now().Add(timeout))
	defer conn.SetReadDeadline(time.Time{})
	req, err := DecodeRequest(conn)
	if err != nil {
		return req, fmt.Errorf("bad request: %w", err)
	}
	return req, nil
}

// DecodeRequest reads one request line from r, at most maxRequestBytes of
// it: a client that sends an endless line costs the master nothing more.
func DecodeRequest(r io.Reader) (Request, error) {
	var req Request
	line, err := bufio.NewReader(io.LimitReader(r, maxRequestBytes)).ReadBytes('\n')
	if err == io.EOF && len(line) == maxRequestBytes {
		err = fmt.Errorf("longer than %d bytes", maxRequestBytes)
	}
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	return req, err
}

// maxRequestBytes bounds a request line.
const maxRequestBytes = 64 << 10

// Adopt serves a control socket a previous master handed over (an upgrade).
// Its path is left in place on Close until Own is called: should this
// master fail, the old one keeps serving there.
func Adopt(path string, ln *net.UnixListener) *Server {
	ln.SetUnlinkOnClose(false)
	return &Server{path: path, ln: ln}
}

// Own makes the socket's path this master's: Close removes it.
func (c *Server) Own() {
	c.owned = true
	c.ln.SetUnlinkOnClose(true)
}

func mustAbs(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	return abs
}

// Listener is the socket itself, for handing it to a new master.
func (c *Server) Listener() *net.UnixListener { return c.ln }

// Live: something listens at path (a master, however busy). Only a
// refused connection or no socket at all means nothing does; a full backlog
// (EAGAIN) or a slow accept is a busy master, never a stale socket.
func Live(path string) bool {
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, os.ErrNotExist)
	}
	conn.Close()
	return true
}

// Masters finds the masters whose control sockets are in dir: the paths of
// those that listen, and of the stale ones a killed master left (which it
// removes: nothing listens there, and the directory is ours).
func Masters(dir string) (live, stale []string) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	for _, p := range paths {
		if strings.Contains(filepath.Base(p), ".health.") {
			continue // a worker's health socket, not a master's
		}
		if Live(p) {
			live = append(live, p)
			continue
		}
		if checkOwner(p) == nil || checkOwned(p, false) == nil && isLink(p) {
			os.Remove(p) // a socket, or a link a master left here, not what it led to
		}
		stale = append(stale, p)
	}
	return live, stale
}

// checkOwner refuses a socket, or a directory holding it, that belongs to
// neither us nor root: in a shared temp dir, another user could have made
// it to answer in a master's place. A symbolic link (Point's) is followed
// once: the link and its directory must be ours, and so must the socket it
// leads to and that socket's directory.
func checkOwner(path string) error {
	if !isLink(path) {
		return checkOwned(path, true)
	}
	if err := checkOwned(path, false); err != nil {
		return err
	}
	target, err := os.Readlink(path)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(path), target)
	}
	return checkOwned(target, true)
}

func isLink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// checkOwned checks that path and its directory belong to us or root, and
// that path is a socket if socket says so.
func checkOwned(path string, socket bool) error {
	for _, p := range []string{filepath.Dir(path), path} {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		if int(st.Uid) != os.Getuid() && st.Uid != 0 {
			return fmt.Errorf("%s belongs to uid %d, not to you (uid %d): refusing to talk to it", p, st.Uid, os.Getuid())
		}
		if socket && p == path && fi.Mode()&fs.ModeSocket == 0 {
			return fmt.Errorf("%s is not a socket", p)
		}
	}
	return nil
}
