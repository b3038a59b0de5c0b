package containertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/internal/proctest"
)

// setup runs in the new namespaces, before the image's entrypoint, what a
// runtime does: a /dev with the usual nodes, a private /tmp, a hostname,
// loopback up. Then it becomes the entrypoint, chrooted into the image, as
// PID 1. $0 is the root filesystem, "$@" the entrypoint.
const setup = `set -e
mount -t tmpfs -o mode=755,nosuid tmpfs "$0/dev"
for node in null zero full random urandom tty; do
	touch "$0/dev/$node" && mount --bind "/dev/$node" "$0/dev/$node"
done
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$0/tmp"
hostname clusterd-test
ip link set lo up
exec chroot "$0" "$@"
`

// container is one run of the image: unshare's child, the container's
// PID 1, is pid here.
type container struct {
	cmd    *exec.Cmd
	pid    int
	rootfs string
	out    *proctest.Buffer
	exited chan struct{}
}

func run(t *testing.T, rootfs string, entrypoint []string) *container {
	t.Helper()
	args := []string{"--fork", "--pid", "--mount", "--uts", "--net", "--mount-proc=" + filepath.Join(rootfs, "proc"),
		"--kill-child=SIGKILL", "--", "/bin/sh", "-c", setup, rootfs}
	c := &container{cmd: exec.Command("unshare", append(args, entrypoint...)...), rootfs: rootfs, out: &proctest.Buffer{}, exited: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.cmd.Process.Kill() // --kill-child takes PID 1, and so the namespace, with it
		<-c.exited
		if t.Failed() {
			t.Logf("container output:\n%s", c.out)
		}
	})
	waitFor(t, 10*time.Second, "the entrypoint to run as the namespace's PID 1", func() error {
		select {
		case <-c.exited:
			t.Fatalf("the container exited at once: %v\n%s", c.cmd.ProcessState, c.out)
		default:
		}
		kids := children(c.cmd.Process.Pid)
		if len(kids) == 1 && cmdline(kids[0]) == strings.Join(entrypoint, " ") {
			c.pid = kids[0]
			return nil
		}
		return errors.New("not yet")
	})
	return c
}

func (c *container) output() string { return c.out.String() }

// wait returns the container's exit code, that of its PID 1.
func (c *container) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("the container did not exit within %v\n%s", timeout, c.out)
		return -1
	}
}

// status asks clusterd inside through its control socket, a file in the
// container's root, reached through /proc/PID/root (the path under the
// storage directory is too long for a unix socket address).
type status struct {
	PID     int `json:"pid"`
	Workers []struct {
		PID   int    `json:"pid"`
		State string `json:"state"`
	} `json:"workers"`
}

func (s status) workerPIDs() []int {
	var pids []int
	for _, w := range s.Workers {
		pids = append(pids, w.PID)
	}
	return pids
}

func (s status) allReady() bool {
	for _, w := range s.Workers {
		if w.State != "ready" {
			return false
		}
	}
	return len(s.Workers) > 0
}

func (c *container) status(clusterd string) (status, error) {
	control := fmt.Sprintf("/proc/%d/root/run/clusterd/default.sock", c.pid)
	out, err := exec.Command(clusterd, "status", "--json", "--control", control).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return status{}, fmt.Errorf("clusterd status: %v: %s", err, stderr)
	}
	var st status
	return st, json.Unmarshal(out, &st)
}

func (c *container) waitReady(t *testing.T, clusterd string) status {
	t.Helper()
	var st status
	waitFor(t, 20*time.Second, "every worker ready", func() error {
		var err error
		if st, err = c.status(clusterd); err != nil {
			return err
		}
		if !st.allReady() {
			return fmt.Errorf("workers not ready: %+v", st.Workers)
		}
		return nil
	})
	return st
}

// loadRun is the load generator running in the container's network
// namespace (nsenter), so 127.0.0.1 is the container's loopback.
type loadRun struct {
	cmd    *exec.Cmd
	stdout *proctest.Buffer
	stderr *proctest.Buffer
}

type loadResult struct {
	Issued, Answered, Unanswered int64
	Failed                       map[string]int64
	summary                      string
}

func (r loadResult) failed() int64 {
	n := r.Unanswered
	for _, v := range r.Failed {
		n += v
	}
	return n
}

func startLoad(t *testing.T, c *container, loadgen string, args ...string) *loadRun {
	t.Helper()
	argv := append([]string{fmt.Sprintf("--net=/proc/%d/ns/net", c.pid), "--", loadgen, "-addr", "127.0.0.1:3000", "-fail-on-error=false"}, args...)
	l := &loadRun{cmd: exec.Command("nsenter", argv...), stdout: &proctest.Buffer{}, stderr: &proctest.Buffer{}}
	l.cmd.Stdout, l.cmd.Stderr = l.stdout, l.stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.cmd.Process.Signal(syscall.SIGKILL); l.cmd.Wait() })
	return l
}

func (l *loadRun) wait(t *testing.T) loadResult {
	t.Helper()
	if err := l.cmd.Wait(); err != nil {
		t.Fatalf("loadgen: %v\n%s", err, l.stderr)
	}
	var r loadResult
	if err := json.Unmarshal([]byte(l.stdout.String()), &r); err != nil {
		t.Fatalf("loadgen's JSON: %v\n%s", err, l.stdout)
	}
	r.summary = strings.TrimSpace(l.stderr.String())
	return r
}
