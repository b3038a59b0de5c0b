package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one system under test: started once for a scenario, measured round after round
// side by side with the others, then stopped.
type server interface {
	label() string
	addr() string
	// start returns once every worker has said it is ready.
	start(ctx context.Context) error
	// stop stops the server and everything it started, and says if anything had to be
	// killed or survived.
	stop() error
}

// reloader is a server that can replace all its workers while serving.
type reloader interface {
	reload(ctx context.Context) error
}

// supervised is a server with a supervisor process of its own (clusterd's master, PM2's
// daemon, Node's cluster primary) whose cost can be measured.
type supervised interface {
	supervisorPID() int
	workerPIDs(ctx context.Context) ([]int, error)
}

const (
	readyTimeout = 60 * time.Second // start of a whole cluster, up to 256 workers on 2 cores
	stopGrace    = 15 * time.Second
)

// ---- clusterd -------------------------------------------------------------------------

// clusterdServer is `clusterd -i N --wait-ready -- COMMAND`.
type clusterdServer struct {
	s         *suite
	name      string
	instances int
	command   []string
	env       []string // added to the master's environment, which the workers inherit
	flags     []string // more master flags

	address, control string
	p                *proc
	startedAt        time.Time // just before the master was started
}

func (c *clusterdServer) label() string      { return c.name }
func (c *clusterdServer) addr() string       { return c.address }
func (c *clusterdServer) supervisorPID() int { return c.p.pid() }

// clusterdStatus is what the suite reads of `clusterd status --json`. The suite talks to
// the master only through its command line, as a user's scripts would.
type clusterdStatus struct {
	PID       int `json:"pid"`
	Instances int `json:"instances"`
	Workers   []struct {
		Slot      int    `json:"slot"`
		PID       int    `json:"pid"`
		State     string `json:"state"`
		Restarts  int    `json:"restarts"`
		Successor bool   `json:"successor"`
	} `json:"workers"`
	Reload struct {
		InProgress bool `json:"in_progress"`
	} `json:"reload"`
	// SocketModes says how each listening address is served: "shared",
	// "reuseport+steering" or "reuseport", with the reason after a colon where steering
	// was wanted and is not done.
	SocketModes []string `json:"socket_modes"`
}

func (c *clusterdServer) status(ctx context.Context) (*clusterdStatus, error) {
	out, err := run(ctx, 10*time.Second, nil, c.s.clusterd, "status", "--json", "--control", c.control)
	if err != nil {
		return nil, err
	}
	var st clusterdStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("%s: clusterd status --json: %w", c.name, err)
	}
	return &st, nil
}

func (c *clusterdServer) start(ctx context.Context) error {
	var err error
	if c.address, err = freeAddr(); err != nil {
		return err
	}
	c.control = filepath.Join(c.s.work, c.s.uniq(c.name)+".sock")
	args := []string{"-i", strconv.Itoa(c.instances), "-l", c.address, "--wait-ready",
		"--control", c.control, "--name", c.name}
	args = append(args, c.flags...)
	args = append(append(args, "--"), c.command...)
	cmd := exec.Command(c.s.clusterd, args...)
	cmd.Env = append(os.Environ(), c.env...)
	c.startedAt = time.Now()
	if c.p, err = c.s.procs.start(c.name, cmd, c.s.logPath(c.name)); err != nil {
		return err
	}
	return c.waitReady(ctx, readyTimeout)
}

// allReadyLogged is when the master logged that every worker was ready, read from the
// time= field of its "all workers ready" line (milliseconds). Timing a start by polling
// `clusterd status` is too coarse: since 799d2b2 each status call samples the workers' CPU
// for 250 ms before it answers.
func (c *clusterdServer) allReadyLogged() (time.Time, bool) {
	b, err := os.ReadFile(c.p.log)
	if err != nil {
		return time.Time{}, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.Contains(line, `msg="all workers ready"`) {
			continue
		}
		stamp, ok := strings.CutPrefix(strings.Fields(line)[0], "time=")
		if !ok {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, stamp)
		return t, err == nil
	}
	return time.Time{}, false
}

// waitReady waits until every slot has a ready worker and no reload is running.
func (c *clusterdServer) waitReady(ctx context.Context, timeout time.Duration) error {
	err := waitFor(ctx, timeout, 5*time.Millisecond, c.name+": all workers ready", func() bool {
		if c.p.exited() {
			return true
		}
		st, err := c.status(ctx)
		return err == nil && st.allReady()
	})
	if c.p.exited() {
		return fmt.Errorf("%s: master exited: %v\n%s", c.name, c.p.err, c.p.tail())
	}
	return err
}

func (st *clusterdStatus) allReady() bool {
	ready := 0
	for _, w := range st.Workers {
		if w.State == "ready" && !w.Successor {
			ready++
		}
	}
	return ready == st.Instances && len(st.Workers) == st.Instances && !st.Reload.InProgress
}

func (c *clusterdServer) workerPIDs(ctx context.Context) ([]int, error) {
	st, err := c.status(ctx)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, w := range st.Workers {
		if w.PID != 0 {
			pids = append(pids, w.PID)
		}
	}
	return pids, nil
}

// reload runs `clusterd reload`, the command a deploy script runs.
func (c *clusterdServer) reload(ctx context.Context) error {
	_, err := run(ctx, 2*time.Minute, nil, c.s.clusterd, "reload", "--control", c.control)
	return err
}

// scale runs `clusterd scale N` and waits until exactly n workers are ready (those removed
// have drained and exited).
func (c *clusterdServer) scale(ctx context.Context, n int) error {
	if _, err := run(ctx, time.Minute, nil, c.s.clusterd, "scale", strconv.Itoa(n), "--control", c.control); err != nil {
		return err
	}
	return c.waitReady(ctx, time.Minute)
}

// socketMode is how the master serves its (first) address, as `clusterd status` says.
func (c *clusterdServer) socketMode(ctx context.Context) string {
	st, err := c.status(ctx)
	if err != nil || len(st.SocketModes) == 0 {
		return "unknown"
	}
	return st.SocketModes[0]
}

func (c *clusterdServer) stop() error {
	if c.p == nil {
		return nil
	}
	workers, _ := c.workerPIDs(context.Background())
	var errs []error
	// After an upgrade the master that answers is the new one, not the
	// process the suite started (which has exited): stop it by its pid.
	successor := 0
	if st, err := c.status(context.Background()); err == nil && st.PID != c.p.pid() {
		successor = st.PID
	}
	if !c.p.exited() || successor != 0 {
		if _, err := run(context.Background(), stopGrace, nil, c.s.clusterd, "stop", "--control", c.control); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	if !c.p.exited() {
		if err := c.p.stop(syscall.SIGTERM, stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	if successor != 0 {
		if left := waitGone([]int{successor}, stopGrace); len(left) > 0 {
			killPIDs(left, 5*time.Second)
			errs = append(errs, fmt.Errorf("%s: the upgraded master %d did not stop within %v", c.name, successor, stopGrace))
		}
	}
	if left := killPIDs(workers, 5*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("%s: workers %v outlived their master", c.name, left))
	}
	return errors.Join(errs...)
}

// quitForGoroutines makes the master print every goroutine's stack and exit (SIGQUIT; the
// master must run with GOTRACEBACK=all), and counts the goroutines in its log. Its workers
// die with it (parent-death signal); any that would not are killed by PID.
func (c *clusterdServer) quitForGoroutines() (int, error) {
	workers, _ := c.workerPIDs(context.Background())
	c.p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.p.done:
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("%s: still running 10s after SIGQUIT", c.name)
	}
	killPIDs(workers, 5*time.Second)
	b, err := os.ReadFile(c.p.log)
	if err != nil {
		return 0, err
	}
	_, dump, ok := strings.Cut(string(b), "SIGQUIT")
	if !ok {
		return 0, fmt.Errorf("%s: no stack dump after SIGQUIT in %s", c.name, c.p.log)
	}
	n := 0
	for line := range strings.SplitSeq(dump, "\n") {
		if strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":") {
			n++
		}
	}
	return n, nil
}

// ---- bare processes -------------------------------------------------------------------

// bareServer is n copies of a command with no master: with shared set they inherit one
// listening socket opened by the suite (fd 3, LISTEN_FDS/LISTEN_PID as clusterd sets them),
// the physical limit of the shared-socket design; otherwise the command listens by itself
// on the address given by "{addr}" (or "{host}" and "{port}") in its arguments or
// environment. Either way each process gets a
// NOTIFY_FD pipe and counts as ready when it writes "READY=1" on it.
type bareServer struct {
	s       *suite
	name    string
	n       int
	shared  bool
	command []string
	env     []string

	address string
	sock    *os.File
	procs   []*proc
}

func (b *bareServer) label() string      { return b.name }
func (b *bareServer) addr() string       { return b.address }
func (b *bareServer) supervisorPID() int { return b.procs[0].pid() }

func (b *bareServer) workerPIDs(context.Context) ([]int, error) {
	var pids []int
	for _, p := range b.procs {
		if !p.exited() {
			pids = append(pids, p.pid())
		}
	}
	return pids, nil
}

func (b *bareServer) start(ctx context.Context) error {
	var err error
	if b.address, err = freeAddr(); err != nil {
		return err
	}
	if b.shared {
		if b.sock, err = listenShared(b.address); err != nil {
			return err
		}
	}
	for i := range b.n {
		if err := b.startOne(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

func (b *bareServer) startOne(ctx context.Context, i int) error {
	notifyR, notifyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer notifyW.Close()
	args := b.expand(b.command)
	var cmd *exec.Cmd
	env := append(os.Environ(), b.expand(b.env)...)
	if b.shared {
		// LISTEN_PID must be the worker's own PID, unknown before the fork: the shell
		// sets it to its $$ and execs the command in the same process, as clusterd's
		// exec shim does.
		cmd = exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$@"`, "sh"}, args...)...)
		cmd.ExtraFiles = []*os.File{b.sock, notifyW}
		env = append(env, "LISTEN_FDS=1", "LISTEN_FDNAMES=http", "NOTIFY_FD=4")
	} else {
		cmd = exec.Command(args[0], args[1:]...)
		cmd.ExtraFiles = []*os.File{notifyW}
		env = append(env, "NOTIFY_FD=3")
	}
	cmd.Env = env
	name := fmt.Sprintf("%s-%d", b.name, i)
	p, err := b.s.procs.start(name, cmd, b.s.logPath(name))
	if err != nil {
		notifyR.Close()
		return err
	}
	b.procs = append(b.procs, p)
	ready := make(chan bool, 1)
	go readNotify(notifyR, ready)
	select {
	case ok := <-ready:
		if !ok {
			<-p.done
			return fmt.Errorf("%s exited before READY=1: %v\n%s", name, p.err, p.tail())
		}
		return nil
	case <-time.After(readyTimeout):
		return fmt.Errorf("%s: no READY=1 within %v", name, readyTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// expand replaces "{addr}", "{host}" and "{port}" in each of list.
func (b *bareServer) expand(list []string) []string {
	host, port, _ := strings.Cut(b.address, ":")
	r := strings.NewReplacer("{addr}", b.address, "{host}", host, "{port}", port)
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = r.Replace(s)
	}
	return out
}

// readNotify reports on ready whether "READY=1" arrived on r, then keeps reading until the
// writer is gone, so a worker's later messages (STOPPING=1) never meet a closed pipe.
func readNotify(r *os.File, ready chan<- bool) {
	defer r.Close()
	lines := bufio.NewScanner(r)
	sent := false
	for lines.Scan() {
		if !sent && strings.TrimSpace(lines.Text()) == "READY=1" {
			ready <- true
			sent = true
		}
	}
	if !sent {
		ready <- false
	}
}

func (b *bareServer) stop() error {
	var errs []error
	for _, p := range b.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range b.procs {
		errs = append(errs, p.stop(syscall.SIGTERM, stopGrace))
	}
	if b.sock != nil {
		b.sock.Close()
	}
	return errors.Join(errs...)
}
