package rig

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one system under test: started once for a scenario, measured round after round
// side by side with the others, then stopped. Scenarios treat clusterd, PM2 and bare
// processes alike through it, so that every figure compares like with like.
type Server interface {
	// Label names the server in logs, tables and the JSON file.
	Label() string
	Addr() string
	// Start returns once every worker has said it is ready.
	Start(ctx context.Context) error
	// Stop stops the server and everything it started, and says if anything had to be
	// killed or survived.
	Stop() error
}

// Reloader is a server that can replace all its workers while serving: what a deploy does,
// and what the reload scenarios measure.
type Reloader interface {
	Reload(ctx context.Context) error
}

// Supervised is a server with a supervisor process of its own (clusterd's master, PM2's
// daemon, Node's cluster primary) whose cost can be measured, and whose workers can be
// told apart by PID (to count them, or to kill one).
type Supervised interface {
	SupervisorPID() int
	WorkerPIDs(ctx context.Context) ([]int, error)
}

// The two ways clusterd can serve one TCP address (docs/design.md §10), as master flags.
const (
	FlagShared    = "--shared-socket"
	FlagReusePort = "--reuseport"
)

const (
	readyTimeout = 60 * time.Second // start of a whole cluster, up to 256 workers on 2 cores
	// StopGrace is how long a process gets between SIGTERM and SIGKILL: enough for a
	// master to drain its workers, short enough that a hung one does not stall the run.
	StopGrace = 15 * time.Second
)

// ---- clusterd -------------------------------------------------------------------------

// ClusterdServer is `clusterd -i N --wait-ready -- COMMAND`, driven only through clusterd's
// command line (status, reload, scale, upgrade, stop), as a deploy script would drive it.
type ClusterdServer struct {
	Rig       *Rig
	Name      string
	Instances int
	Command   []string
	Env       []string // added to the master's environment, which the workers inherit
	Flags     []string // more master flags

	address, control string
	p                *proc
	startedAt        time.Time // just before the master was started
}

func (c *ClusterdServer) Label() string      { return c.Name }
func (c *ClusterdServer) Addr() string       { return c.address }
func (c *ClusterdServer) SupervisorPID() int { return c.p.pid() }

// ClusterdStatus is what the suite reads of `clusterd status --json`. The suite talks to
// the master only through its command line, as a user's scripts would.
type ClusterdStatus struct {
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

// Status runs `clusterd status --json`: the scenarios judge readiness, restarts and the
// socket mode by what the master itself reports.
func (c *ClusterdServer) Status(ctx context.Context) (*ClusterdStatus, error) {
	out, err := Run(ctx, 10*time.Second, nil, c.Rig.Clusterd, "status", "--json", "--control", c.control)
	if err != nil {
		return nil, err
	}
	var st ClusterdStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("%s: clusterd status --json: %w", c.Name, err)
	}
	return &st, nil
}

// Start starts the master on a fresh loopback port with its own control socket, so that
// several masters can run side by side, and waits until every worker is ready.
func (c *ClusterdServer) Start(ctx context.Context) error {
	var err error
	if c.address, err = FreeAddr(); err != nil {
		return err
	}
	c.control = filepath.Join(c.Rig.Work, c.Rig.uniq(c.Name)+".sock")
	args := []string{"-i", strconv.Itoa(c.Instances), "-l", c.address, "--wait-ready",
		"--control", c.control, "--name", c.Name}
	args = append(args, c.Flags...)
	args = append(append(args, "--"), c.Command...)
	cmd := exec.Command(c.Rig.Clusterd, args...)
	cmd.Env = append(os.Environ(), c.Env...)
	c.startedAt = time.Now()
	if c.p, err = c.Rig.procs.start(c.Name, cmd, c.Rig.logPath(c.Name)); err != nil {
		return err
	}
	return c.WaitReady(ctx, readyTimeout)
}

// AllReadyLogged is when the master logged that every worker was ready, read from the
// time= field of its "all workers ready" line (milliseconds). Timing a start by polling
// `clusterd status` is too coarse: since 799d2b2 each status call samples the workers' CPU
// for 250 ms before it answers.
func (c *ClusterdServer) AllReadyLogged() (time.Time, bool) {
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

// WaitReady waits until every slot has a ready worker and no reload is running, so that a
// round starts from a whole cluster.
func (c *ClusterdServer) WaitReady(ctx context.Context, timeout time.Duration) error {
	err := WaitFor(ctx, timeout, 5*time.Millisecond, c.Name+": all workers ready", func() bool {
		if c.p.exited() {
			return true
		}
		st, err := c.Status(ctx)
		return err == nil && st.AllReady()
	})
	if c.p.exited() {
		return fmt.Errorf("%s: master exited: %v\n%s", c.Name, c.p.err, c.p.tail())
	}
	return err
}

// AllReady says the cluster is whole: every slot has a ready worker that is not a reload's
// successor, and no reload runs.
func (st *ClusterdStatus) AllReady() bool {
	ready := 0
	for _, w := range st.Workers {
		if w.State == "ready" && !w.Successor {
			ready++
		}
	}
	return ready == st.Instances && len(st.Workers) == st.Instances && !st.Reload.InProgress
}

// WorkerPIDs are the workers `clusterd status` lists, successors included, so that a
// scenario can kill one or Stop can make sure none outlived the master.
func (c *ClusterdServer) WorkerPIDs(ctx context.Context) ([]int, error) {
	st, err := c.Status(ctx)
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

// Reload runs `clusterd reload`, the command a deploy script runs.
func (c *ClusterdServer) Reload(ctx context.Context) error {
	_, err := Run(ctx, 2*time.Minute, nil, c.Rig.Clusterd, "reload", "--control", c.control)
	return err
}

// Upgrade runs `clusterd upgrade`: the master re-executes the binary on disk and hands the
// new master its sockets, which the master-upgrade scenario holds to zero lost requests.
func (c *ClusterdServer) Upgrade(ctx context.Context) error {
	_, err := Run(ctx, 2*time.Minute, nil, c.Rig.Clusterd, "upgrade", "--control", c.control)
	return err
}

// StartedAt is the moment just before the master was started, the start of a
// start-to-ready time.
func (c *ClusterdServer) StartedAt() time.Time { return c.startedAt }

// Scale runs `clusterd scale N` and waits until exactly n workers are ready (those removed
// have drained and exited).
func (c *ClusterdServer) Scale(ctx context.Context, n int) error {
	if _, err := Run(ctx, time.Minute, nil, c.Rig.Clusterd, "scale", strconv.Itoa(n), "--control", c.control); err != nil {
		return err
	}
	return c.WaitReady(ctx, time.Minute)
}

// SocketMode is how the master serves its (first) address, as `clusterd status` says.
func (c *ClusterdServer) SocketMode(ctx context.Context) string {
	st, err := c.Status(ctx)
	if err != nil || len(st.SocketModes) == 0 {
		return "unknown"
	}
	return st.SocketModes[0]
}

// Stop runs `clusterd stop` as a user would, then checks by PID that the master (or the
// master an upgrade put in its place) and every worker are gone, and kills those that are
// not: a leftover would skew the next scenario.
func (c *ClusterdServer) Stop() error {
	if c.p == nil {
		return nil
	}
	workers, _ := c.WorkerPIDs(context.Background())
	var errs []error
	// After an upgrade the master that answers is the new one, not the
	// process the suite started (which has exited): stop it by its pid.
	successor := 0
	if st, err := c.Status(context.Background()); err == nil && st.PID != c.p.pid() {
		successor = st.PID
	}
	if !c.p.exited() || successor != 0 {
		if _, err := Run(context.Background(), StopGrace, nil, c.Rig.Clusterd, "stop", "--control", c.control); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	if !c.p.exited() {
		if err := c.p.stop(syscall.SIGTERM, StopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	if successor != 0 {
		if left := waitGone([]int{successor}, StopGrace); len(left) > 0 {
			killPIDs(left, 5*time.Second)
			errs = append(errs, fmt.Errorf("%s: the upgraded master %d did not stop within %v", c.Name, successor, StopGrace))
		}
	}
	if left := killPIDs(workers, 5*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("%s: workers %v outlived their master", c.Name, left))
	}
	return errors.Join(errs...)
}

// QuitForGoroutines makes the master print every goroutine's stack and exit (SIGQUIT; the
// master must run with GOTRACEBACK=all), and counts the goroutines in its log. Its workers
// die with it (parent-death signal); any that would not are killed by PID.
func (c *ClusterdServer) QuitForGoroutines() (int, error) {
	workers, _ := c.WorkerPIDs(context.Background())
	c.p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.p.done:
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("%s: still running 10s after SIGQUIT", c.Name)
	}
	killPIDs(workers, 5*time.Second)
	b, err := os.ReadFile(c.p.log)
	if err != nil {
		return 0, err
	}
	_, dump, ok := strings.Cut(string(b), "SIGQUIT")
	if !ok {
		return 0, fmt.Errorf("%s: no stack dump after SIGQUIT in %s", c.Name, c.p.log)
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

// BareServer is n copies of a command with no master: with shared set they inherit one
// listening socket opened by the suite (fd 3, LISTEN_FDS/LISTEN_PID as clusterd sets them),
// the physical limit of the shared-socket design; otherwise the command listens by itself
// on the address given by "{addr}" (or "{host}" and "{port}") in its arguments or
// environment. Either way each process gets a
// NOTIFY_FD pipe and counts as ready when it writes "READY=1" on it.
type BareServer struct {
	Rig     *Rig
	Name    string
	N       int
	Shared  bool
	Command []string
	Env     []string
	// OwnSessions starts each process in a session of its own, where
	// clusterd places its workers. A session is also a scheduler autogroup
	// (sched(7)): where autogroups are on, the kernel splits the CPU equally
	// between sessions first, so workers of one session each compete with
	// wrk thread by thread, and workers of their own sessions each take as
	// much as wrk as a whole. On two cores shared with the load generator
	// that split, not the master, decides much of a throughput ratio
	// (docs/design.md §16).
	OwnSessions bool
	// Restart starts a process again in its place the moment it exits, without waiting
	// for READY=1: the least any supervisor does, so a crash-prone command under it shows
	// the physical limit of crash recovery (fork+exec and the program's own start, no
	// bookkeeping at all). Five exits in a row before READY=1 end the restarting.
	Restart bool

	address string
	sock    *os.File

	mu       sync.Mutex
	procs    []*proc // every process started, in order
	stopping bool
}

func (b *BareServer) Label() string { return b.Name }
func (b *BareServer) Addr() string  { return b.address }

// SupervisorPID is the first process: bare processes have no supervisor, and the one that
// stands for it (Node's cluster primary) is started first.
func (b *BareServer) SupervisorPID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.procs[0].pid()
}

// WorkerPIDs are the processes still running: nothing restarts a bare one.
func (b *BareServer) WorkerPIDs(context.Context) ([]int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var pids []int
	for _, p := range b.procs {
		if !p.exited() {
			pids = append(pids, p.pid())
		}
	}
	return pids, nil
}

// Start opens the shared socket (if Shared) and starts the processes one by one, each
// waited for until it writes READY=1, as clusterd waits for its workers.
func (b *BareServer) Start(ctx context.Context) error {
	var err error
	if b.address, err = FreeAddr(); err != nil {
		return err
	}
	if b.Shared {
		if b.sock, err = listenShared(b.address); err != nil {
			return err
		}
	}
	for i := range b.N {
		if err := b.startOne(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

func (b *BareServer) startOne(ctx context.Context, i int) error {
	b.mu.Lock()
	p, ready, err := b.spawn(i)
	b.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case ok := <-ready:
		if !ok {
			<-p.done
			return fmt.Errorf("%s exited before READY=1: %v\n%s", p.name, p.err, p.tail())
		}
		if b.Restart {
			go b.keep(i, p, ready)
		}
		return nil
	case <-time.After(readyTimeout):
		return fmt.Errorf("%s: no READY=1 within %v", p.name, readyTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// keep starts slot i's process again each time it exits, until Stop.
func (b *BareServer) keep(i int, p *proc, ready <-chan bool) {
	unready := 0
	for {
		<-p.done
		select {
		case ok := <-ready:
			if ok {
				unready = 0
			} else {
				unready++
			}
		default: // ready was taken by startOne
		}
		if unready >= 5 {
			Logf("  %s: %d exits in a row before READY=1, not restarted again", p.name, unready)
			return
		}
		b.mu.Lock() // held across the start, so Stop sees every process started
		var err error
		if !b.stopping {
			p, ready, err = b.spawn(i)
		}
		stopping := b.stopping
		b.mu.Unlock()
		if stopping {
			return
		}
		if err != nil {
			Logf("  %s: restart: %v", b.Name, err)
			return
		}
	}
}

// spawn starts slot i's process; ready says whether it wrote READY=1 before it closed its
// notify pipe. The caller holds b.mu.
func (b *BareServer) spawn(i int) (*proc, <-chan bool, error) {
	notifyR, notifyW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer notifyW.Close()
	args := b.expand(b.Command)
	var cmd *exec.Cmd
	env := append(os.Environ(), b.expand(b.Env)...)
	if b.Shared {
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
	if b.OwnSessions {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	name := fmt.Sprintf("%s-%d", b.Name, i)
	p, err := b.Rig.procs.start(name, cmd, b.Rig.logPath(name))
	if err != nil {
		notifyR.Close()
		return nil, nil, err
	}
	b.procs = append(b.procs, p)
	ready := make(chan bool, 1)
	go readNotify(notifyR, ready)
	return p, ready, nil
}

// expand replaces "{addr}", "{host}" and "{port}" in each of list.
func (b *BareServer) expand(list []string) []string {
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

// Stop sends SIGTERM to every process at once, as a master would, and kills those that do
// not exit within StopGrace.
func (b *BareServer) Stop() error {
	b.mu.Lock()
	b.stopping = true // no restart from now on
	procs := slices.Clone(b.procs)
	b.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range procs {
		errs = append(errs, p.stop(syscall.SIGTERM, StopGrace))
	}
	if b.sock != nil {
		b.sock.Close()
	}
	return errors.Join(errs...)
}
