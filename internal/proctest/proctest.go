// Package proctest lets tests run real worker processes the way clusterd's master does:
// the test binary re-executes itself as a helper child (the os/exec tests' pattern), which
// inherits listening sockets as descriptors 3, 4, … with LISTEN_FDS and LISTEN_PID, and a
// pipe as NOTIFY_FD that carries its readiness messages back. It also has a raw HTTP/1.1
// client ([Conn]) that never retries, so a test sees every failed request.
//
// A test package using it defines
//
//	func TestHelperProcess(t *testing.T) {
//		switch proctest.Helper() {
//		case "":
//			return // an ordinary test run
//		case "serve":
//			os.Exit(serve())
//		}
//	}
//
// and starts children with [Start]. Every child is killed and reaped when its test ends,
// pass or fail.
package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Timeout bounds every wait in this package: it is only reached when a test fails.
const Timeout = 10 * time.Second

const (
	helperEnv       = "CLUSTERD_TEST_HELPER"
	setListenPIDEnv = "CLUSTERD_TEST_SET_LISTEN_PID"
)

// Helper returns the name the test binary was started with by [Start], or "" in an
// ordinary test run. In a helper it first sets LISTEN_PID to the process's own pid, which
// os/exec cannot know before the start (the master uses a re-exec shim for the same
// reason, docs/design.md §3), unless the test set LISTEN_PID itself.
// RunHelper is the body of a package's TestHelperProcess: in a helper it
// runs the function its name picks and exits, 1 with the error on stderr
// if it failed, 0 otherwise; in an ordinary test run it returns at once.
func RunHelper(helpers map[string]func() error) {
	name := Helper()
	if name == "" {
		return
	}
	err := fmt.Errorf("unknown helper %q", name)
	if run := helpers[name]; run != nil {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func Helper() string {
	name := os.Getenv(helperEnv)
	if name != "" && os.Getenv(setListenPIDEnv) == "1" {
		os.Unsetenv(setListenPIDEnv)
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	return name
}

// Socket opens a TCP socket listening on 127.0.0.1 and returns its address and a
// descriptor for it, held as the master holds its sockets: a bare non-blocking descriptor
// outside any net.Listener, duplicated through SyscallConn rather than
// (*net.TCPListener).File, which would switch the socket to blocking (docs/design.md §2).
// Passing it in exec.Cmd.ExtraFiles is safe: os.NewFile did not set the non-blocking flag
// itself, so the Fd call in os.StartProcess leaves it alone. The test closes it at the end.
func Socket(t testing.TB) (addr string, f *os.File) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		t.Fatal(err)
	}
	if dupErr != nil {
		t.Fatal(dupErr)
	}
	f = os.NewFile(uintptr(fd), "socket "+ln.Addr().String())
	t.Cleanup(func() { f.Close() })
	return ln.Addr().String(), f
}

// StatusFlags returns the file status flags (F_GETFL) of f's open file description, which
// every process holding the socket shares. It does not call f.Fd.
func StatusFlags(t testing.TB, f *os.File) int {
	t.Helper()
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	flags, flagsErr := 0, error(nil)
	if err := raw.Control(func(fd uintptr) { flags, flagsErr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		t.Fatal(err)
	}
	if flagsErr != nil {
		t.Fatal(flagsErr)
	}
	return flags
}

// A Child is a helper process started by [Start].
type Child struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	notify chan string // lines the child wrote to NOTIFY_FD
	stdout chan string // lines the child wrote to stdout
	stderr *Buffer
	exited chan struct{}
	state  *os.ProcessState // set before exited is closed
}

// Start runs the test binary as helper name, with sockets inherited as descriptors 3, 4, …
// (LISTEN_FDS set, and LISTEN_PID unless env sets it) and a pipe as NOTIFY_FD after them.
// With no sockets, no LISTEN_ variable is set: the child was not started by a master.
// env adds to (or overrides) the test's environment, from which every LISTEN_, NOTIFY_
// and WATCHDOG_ variable is removed. The child is killed and reaped when the test ends;
// a data race it reports fails the test.
func Start(t testing.TB, name string, sockets []*os.File, env ...string) *Child {
	t.Helper()
	notifyR, notifyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = childEnv(name, len(sockets), env)
	cmd.ExtraFiles = append(append([]*os.File(nil), sockets...), notifyW)
	cmd.Stdout = stdoutW
	c := &Child{
		t:      t,
		name:   name,
		cmd:    cmd,
		notify: make(chan string, 4096),
		stdout: make(chan string, 4096),
		stderr: new(Buffer),
		exited: make(chan struct{}),
	}
	cmd.Stderr = c.stderr
	// If the test binary dies, its children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	notifyW.Close()
	stdoutW.Close()
	if err != nil {
		notifyR.Close()
		stdoutR.Close()
		t.Fatal(err)
	}
	go readLines(notifyR, c.notify)
	go readLines(stdoutR, c.stdout)
	go func() {
		cmd.Wait()
		c.state = cmd.ProcessState
		close(c.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.exited
		if strings.Contains(c.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("helper %s (pid %d) reported a data race:\n%s", name, c.Pid(), c.stderr)
		} else if t.Failed() && c.stderr.String() != "" {
			t.Logf("helper %s (pid %d) stderr:\n%s", name, c.Pid(), c.stderr)
		}
	})
	return c
}

func childEnv(name string, sockets int, extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		for _, prefix := range []string{"LISTEN_", "NOTIFY_", "WATCHDOG_", "GORACE=", helperEnv, setListenPIDEnv} {
			if strings.HasPrefix(kv, prefix) {
				kv = ""
				break
			}
		}
		if kv != "" {
			env = append(env, kv)
		}
	}
	// Under -race a process sleeps a second before it exits (GORACE atexit_sleep_ms,
	// default 1000), for reports from other goroutines; children exit after their work.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	env = append(env, "GORACE="+gorace, helperEnv+"="+name, "NOTIFY_FD="+strconv.Itoa(3+sockets))
	if sockets > 0 {
		env = append(env, "LISTEN_FDS="+strconv.Itoa(sockets))
		if !hasVar(extra, "LISTEN_PID") {
			env = append(env, setListenPIDEnv+"=1")
		}
	}
	// Later entries win in exec.Cmd.Env.
	return append(env, extra...)
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

func readLines(f *os.File, lines chan<- string) {
	defer close(lines)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines <- sc.Text()
	}
}

// Pid returns the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Signal sends sig to the child.
func (c *Child) Signal(sig os.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("helper %s: %v", c.name, err)
	}
}

// WaitNotify reads the child's NOTIFY_FD messages until one equals want. It fails the
// test if the child closes the pipe (exits) first, or after Timeout.
func (c *Child) WaitNotify(want string) {
	c.t.Helper()
	c.waitLine(c.notify, "NOTIFY_FD message", func(line string) bool { return line == want })
}

// Notifications returns the channel of the child's NOTIFY_FD messages, one per line, for
// tests that check their order. It is closed when the child closes the pipe.
func (c *Child) Notifications() <-chan string { return c.notify }

// WaitOutput reads the child's stdout until a line starts with prefix and returns it.
func (c *Child) WaitOutput(prefix string) string {
	c.t.Helper()
	return c.waitLine(c.stdout, "output line", func(line string) bool { return strings.HasPrefix(line, prefix) })
}

func (c *Child) waitLine(lines <-chan string, what string, match func(string) bool) string {
	c.t.Helper()
	deadline := time.After(Timeout)
	var seen []string
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				c.t.Fatalf("helper %s ended without the expected %s; saw %q", c.name, what, seen)
			}
			if match(line) {
				return line
			}
			seen = append(seen, line)
		case <-deadline:
			c.t.Fatalf("helper %s: no expected %s within %v; saw %q", c.name, what, Timeout, seen)
		}
	}
}

// Exited is closed when the child has exited and been reaped.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Wait waits for the child to exit and returns its exit status, or -1 if a signal
// killed it. It fails the test after Timeout.
func (c *Child) Wait() int {
	c.t.Helper()
	select {
	case <-c.exited:
		return c.state.ExitCode()
	case <-time.After(Timeout):
		c.t.Fatalf("helper %s (pid %d) still running after %v", c.name, c.Pid(), Timeout)
		return 0
	}
}

// Stderr returns what the child wrote to stderr so far.
func (c *Child) Stderr() string { return c.stderr.String() }

// Buffer collects a child's output for assertions while it runs.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreeAddr returns a loopback TCP address that was free a moment ago, for a child that
// opens its own socket (a worker not started by a master).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
