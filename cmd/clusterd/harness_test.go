package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/bench/load"
	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/internal/proctest"
)

// The test binary is also the clusterd binary: with CLUSTERD_TEST_ROLE=main
// it runs main(), so the tests drive real master processes (with the race
// detector when -race is on), and `clusterd demo` workers are the test
// binary too (the helper-process pattern of os/exec's tests).
//
// Parallel tests: a test marked t.Parallel() spends its time waiting on
// processes (starts, stops, back-offs, timeouts), runs no load whose
// figures depend on the CPU, never kills a master (the next master's
// cgroup sweep would act on it), and changes nothing process-wide (no
// t.Setenv). The rest run one at a time, first.
func TestMain(m *testing.M) {
	if os.Getenv("CLUSTERD_TEST_ROLE") == "main" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// appClient is the control client of the app called name, at its socket's
// default path.
func appClient(t *testing.T, name string) *control.Client {
	t.Helper()
	path, err := control.DefaultPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return &control.Client{Path: path}
}

// quietLogger is the master's logger for configurations that a test reads
// without running them.
func quietLogger(slog.Level, bool) *slog.Logger { return slog.New(slog.DiscardHandler) }

// testRunVar tags every process a test starts, so cleanup can find and
// kill any the test leaked, and fail the test for it.
const testRunVar = "CLUSTERD_TEST_RUN"

// bin is the path of this test binary: the clusterd under test.
func bin(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// cluster is one master process under test.
type cluster struct {
	t       *testing.T
	cmd     *exec.Cmd
	control string
	client  *control.Client
	output  *proctest.Buffer
	exited  chan struct{}
	exitErr error
	// runtimeDir is the master's XDG_RUNTIME_DIR: with its own --control,
	// it links the socket from runtimeDir/clusterd.
	runtimeDir string
}

// clusterOptions: args go before "--", command after it.
type clusterOptions struct {
	args    []string
	command []string
	env     []string
	// waitReady: wait until every slot has a ready worker before returning.
	waitReady bool
	// wrapper runs the master, e.g. in a new PID namespace.
	wrapper []string
	// binary is the clusterd to run (default: this test binary); an
	// upgrade re-executes it from this path.
	binary string
	// config, if set, is a config file to start (-c) instead of a command,
	// and app the app whose control socket the cluster talks to. Control
	// sockets are then in runtimeDir (XDG_RUNTIME_DIR), one per app.
	// Without config, the master's socket is its own (--control), linked
	// from runtimeDir's per-user directory: a new one unless given, never
	// the user's.
	config, app string
	runtimeDir  string
	// controlPath, if set, is the control socket (default: a new one).
	controlPath string
	// ownListen: no -l 127.0.0.1:0 is added; the command's own listen()
	// decides (a Node app under --node-compat).
	ownListen bool
}

// tagEnv is the environment for a process of this test.
func tagEnv(t *testing.T, extra ...string) []string {
	env := append(os.Environ(), "CLUSTERD_TEST_ROLE=main", testRunVar+"="+runID(t))
	return append(env, extra...)
}

func runID(t *testing.T) string {
	return fmt.Sprintf("%d-%s", os.Getpid(), t.Name())
}

// startCluster starts a master on 127.0.0.1:0 with a private control socket
// and registers cleanup that stops it and fails the test on any leaked
// process.
func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	dir := t.TempDir()
	controlPath := filepath.Join(dir, "control.sock")
	if o.controlPath != "" {
		controlPath = o.controlPath
	}
	var args []string
	if o.config != "" {
		controlPath = filepath.Join(o.runtimeDir, "clusterd", o.app+".sock")
		o.env = append(o.env, "XDG_RUNTIME_DIR="+o.runtimeDir)
		args = append([]string{"-c", o.config}, o.args...)
	} else {
		if o.runtimeDir == "" {
			o.runtimeDir = t.TempDir()
		}
		o.env = append(o.env, "XDG_RUNTIME_DIR="+o.runtimeDir)
		args = append([]string{"--control", controlPath}, o.args...)
		if !containsFlag(o.args, "-l", "--listen") && !o.ownListen {
			args = append(args, "-l", "127.0.0.1:0")
		}
		args = append(args, "--")
		args = append(args, o.command...)
	}
	binary := o.binary
	if binary == "" {
		binary = bin(t)
	}
	argv := append(append(append([]string{}, o.wrapper...), binary), args...)
	c := &cluster{
		t:       t,
		cmd:     exec.Command(argv[0], argv[1:]...),
		control: controlPath,
		client:  &control.Client{Path: controlPath, Timeout: 5 * time.Second},
		output:  &proctest.Buffer{},
		exited:  make(chan struct{}),
	}
	c.runtimeDir = o.runtimeDir
	c.cmd.Env = tagEnv(t, o.env...)
	c.cmd.Stdout, c.cmd.Stderr = c.output, c.output
	// Its own process group, as under a shell's job control.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A new master after an upgrade inherits this output pipe, and so would
	// a worker that outlived its master (a bug the cleanup reports): Wait
	// must not block on either forever.
	c.cmd.WaitDelay = 2 * time.Second
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exitErr = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() { c.cleanup() })
	waitFor(t, 20*time.Second, "the master to answer on its control socket", func() error {
		select {
		case <-c.exited:
			t.Fatalf("master exited during start: %v\n%s", c.exitErr, c.output)
		default:
		}
		_, err := c.client.Status()
		return err
	})
	if o.waitReady {
		c.waitAllReady()
	}
	return c
}

func containsFlag(args []string, names ...string) bool {
	for _, a := range args {
		for _, n := range names {
			if a == n || strings.HasPrefix(a, n+"=") {
				return true
			}
		}
	}
	return false
}

// cleanup stops the master gracefully (SIGKILL if it takes too long), then
// looks for any process carrying this test's tag: a leaked worker is a
// failed test.
func (c *cluster) cleanup() {
	select {
	case <-c.exited:
	default:
		syscall.Kill(c.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			c.t.Errorf("master did not stop within 15s of SIGTERM; killing it")
			c.cmd.Process.Kill()
			<-c.exited
		}
	}
	// An upgrade leaves a new master (not our child) on the control socket.
	// SIGTERM by its pid, as the status names it, stops it whole: it may
	// run several apps, and `clusterd stop` would stop one.
	// Only a pid that carries this test's tag: a master in a PID namespace
	// reports its pid there (1), which here is somebody else's.
	if st, err := c.client.Status(); err == nil && st.PID > 1 && slices.Contains(taggedProcesses(runID(c.t)), st.PID) {
		syscall.Kill(st.PID, syscall.SIGTERM)
		deadline := time.Now().Add(15 * time.Second)
		for alive(st.PID) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(st.PID) {
			c.t.Errorf("the master that took over (pid %d) did not stop within 15s of SIGTERM; killing it", st.PID)
			syscall.Kill(st.PID, syscall.SIGKILL)
		}
	}
	// The master is gone; its workers die with it (parent-death signal), and
	// a graceful stop waits for them. Give the kernel a moment to deliver.
	var leaked []int
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked = taggedProcesses(runID(c.t))
		if len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, pid := range leaked {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(leaked) > 0 {
		c.t.Errorf("processes left running after the master stopped: %v", leaked)
	}
	if c.t.Failed() {
		c.t.Logf("master output:\n%s", c.output)
	}
}

// taggedProcesses lists live (not zombie) processes whose environment holds
// this test's tag.
func taggedProcesses(id string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	tag := []byte(testRunVar + "=" + id + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, tag) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(fields) > 0 && fields[0] == "Z" {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *cluster) status() *control.Status {
	c.t.Helper()
	st, err := c.client.Status()
	if err != nil {
		c.t.Fatalf("status: %v", err)
	}
	return st
}

// addr is the cluster's first listening address.
func (c *cluster) addr() string {
	return c.status().Listeners[0]
}

// slotWorkers returns the slots' workers, skipping successors and
// stopping workers listed after them.
func slotWorkers(st *control.Status) []control.WorkerStatus {
	return st.Workers[:st.Instances]
}

func (c *cluster) readyPIDs() ([]int, error) {
	st, err := c.client.Status()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, w := range slotWorkers(st) {
		if w.State != "ready" {
			return nil, fmt.Errorf("slot %d is %s", w.Slot, w.State)
		}
		pids = append(pids, w.PID)
	}
	return pids, nil
}

func (c *cluster) waitAllReady() []int {
	c.t.Helper()
	var pids []int
	waitFor(c.t, 20*time.Second, "every slot to have a ready worker", func() error {
		var err error
		pids, err = c.readyPIDs()
		return err
	})
	return pids
}

// reloadBySignal sends SIGHUP and waits for the reload of the next
// generation to finish, returning its outcome.
func (c *cluster) reloadBySignal() *control.ReloadOutcome {
	c.t.Helper()
	before := c.status().Generation
	if err := syscall.Kill(c.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		c.t.Fatal(err)
	}
	var out *control.ReloadOutcome
	waitFor(c.t, 60*time.Second, "the SIGHUP reload to finish", func() error {
		st, err := c.client.Status()
		if err != nil {
			return err
		}
		if st.Reload.InProgress || st.Reload.Last == nil || st.Reload.Last.Generation <= before {
			return errors.New("reload still running")
		}
		out = st.Reload.Last
		return nil
	})
	return out
}

// run runs the clusterd binary (a subcommand) and returns its exit code and
// combined output.
func run(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t), args...)
	cmd.Env = tagEnv(t)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("clusterd %s did not finish within %s", strings.Join(args, " "), timeout)
	}
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// background load: the harness's view of bench/load.
type loadRun struct {
	stop     chan struct{}
	answered atomic.Int64
	done     chan struct{}
	result   load.Result
	err      error
}

// startLoad sends requests to addr until stop is called; every request is
// accounted for (issued = answered + failed + unanswered).
func startLoad(t *testing.T, addr string, keepAlive bool) *loadRun {
	return startLoadConns(t, addr, keepAlive, 16)
}

func startLoadConns(t *testing.T, addr string, keepAlive bool, conns int) *loadRun {
	t.Helper()
	l := &loadRun{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.result, l.err = load.Run(context.Background(), load.Options{
			Addr: addr, Concurrency: conns, KeepAlive: keepAlive, Duration: 5 * time.Minute,
			MaxRequests: 50_000_000, Timeout: 10 * time.Second, Stop: l.stop, Progress: &l.answered,
		})
	}()
	return l
}

// waitAnswered waits until n more requests were answered, so what follows
// happens under load (and what came before did not stop the traffic).
func (l *loadRun) waitAnswered(t *testing.T, n int64) {
	t.Helper()
	target := l.answered.Load() + n
	waitFor(t, 30*time.Second, fmt.Sprintf("%d more answered requests", n), func() error {
		select {
		case <-l.done:
			t.Fatalf("load ended early: %v %s", l.err, l.result)
		default:
		}
		if got := l.answered.Load(); got < target {
			return fmt.Errorf("answered %d of %d", got, target)
		}
		return nil
	})
}

// finish stops issuing, lets requests in flight finish and checks that not
// one failed or went unanswered.
func (l *loadRun) finish(t *testing.T) load.Result {
	t.Helper()
	close(l.stop)
	select {
	case <-l.done:
	case <-time.After(30 * time.Second):
		t.Fatal("load did not finish within 30s of stop")
	}
	if l.err != nil {
		t.Fatal(l.err)
	}
	r := l.result
	t.Logf("load: %s", r)
	if r.Answered == 0 {
		t.Fatalf("no request was answered")
	}
	if r.FailedTotal() != 0 || r.Unanswered != 0 {
		t.Errorf("requests failed: %d failed %v (first errors %v), %d unanswered", r.FailedTotal(), r.Failed, r.FirstError, r.Unanswered)
	}
	return r
}

var errNotYet = errors.New("not yet")

// waitLogged waits until the master's output holds what at least atLeast
// times. The master writes its log off the event loop, so a line can
// trail the state change that status already reports.
func (c *cluster) waitLogged(what string, atLeast int) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(c.output.String(), what) < atLeast {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %d× %q in the master's output:\n%s", atLeast, what, c.output)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
