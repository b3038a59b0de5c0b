package rig

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is one process the suite started. Every proc is registered until it has exited, so
// that the suite can stop whatever is left, by PID, however it ends.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait has returned
	err  error         // Wait's error, valid after done
	log  string        // stdout and stderr go here
}

// procs is the registry of live processes.
type procs struct {
	mu   sync.Mutex
	live map[*proc]bool
}

// start runs cmd in its own process group (so a Ctrl-C on the terminal reaches the suite,
// which then stops everything in order) with a parent-death signal (so a SIGKILLed suite
// leaves nothing behind), and registers it. Unless cmd says otherwise, stdout and stderr go
// straight to the file logPath (no copying goroutine in the suite's process).
func (ps *procs) start(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if cmd.Stdout == nil {
		cmd.Stdout = log
	}
	if cmd.Stderr == nil {
		cmd.Stderr = log
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// A session of its own also makes it a process group leader, and
	// setpgid first would make setsid fail.
	cmd.SysProcAttr.Setpgid = !cmd.SysProcAttr.Setsid
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	ps.mu.Lock()
	if ps.live == nil {
		ps.live = map[*proc]bool{}
	}
	ps.live[p] = true
	ps.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		log.Close()
		ps.mu.Lock()
		delete(ps.live, p)
		ps.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the process to exit, then SIGKILLs it and waits
// for that too. It returns an error if the process had to be killed.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return nil
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL for 5s", p.name, p.pid())
	}
	return fmt.Errorf("%s (pid %d) did not exit within %v of %v: killed", p.name, p.pid(), grace, sig)
}

// stopAll stops every process still registered: SIGTERM, then SIGKILL after grace.
func (ps *procs) stopAll(grace time.Duration) {
	ps.mu.Lock()
	left := make([]*proc, 0, len(ps.live))
	for p := range ps.live {
		left = append(left, p)
	}
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range left {
		wg.Go(func() {
			if err := p.stop(syscall.SIGTERM, grace); err != nil {
				fmt.Fprintln(os.Stderr, "cleanup:", err)
			}
		})
	}
	wg.Wait()
}

// killPIDs SIGKILLs processes the suite did not start itself but is responsible for (PM2's
// daemon and workers, a master's workers), if they are still alive, and waits for them to
// disappear. Each PID was read from its supervisor moments before, so reuse is not a
// practical concern on this scale; a PID whose process is a zombie counts as gone.
func killPIDs(pids []int, wait time.Duration) []int {
	for _, pid := range pids {
		if Alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return waitGone(pids, wait)
}

// waitGone waits up to wait for pids to exit, and returns those still alive.
func waitGone(pids []int, wait time.Duration) []int {
	deadline := time.Now().Add(wait)
	for {
		var left []int
		for _, pid := range pids {
			if Alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Alive reports whether pid names a process that has not exited (zombies have exited): a
// killed worker counts as gone as soon as it is a zombie, before its parent reaps it.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// WaitFor polls cond every interval until it is true, ctx is done or timeout has passed:
// every wait of the suite is bounded, so that a hung server fails a scenario, not the run.
func WaitFor(ctx context.Context, timeout, interval time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// tail is the end of the process's log, to explain a failure.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Run runs a short command (a CLI, wrk) to completion within timeout and returns its stdout.
// It is killed, with its process group, when ctx is done or the timeout passes.
func Run(ctx context.Context, timeout time.Duration, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := bytes.TrimSpace(stderr.Bytes())
		if len(msg) > 600 {
			msg = msg[len(msg)-600:]
		}
		return out, fmt.Errorf("%s %v: %w: %s", name, args, err, msg)
	}
	return out, nil
}
