package containertest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gateVar turns the test on; make container-test sets it.
const gateVar = "CLUSTERD_CONTAINER_TEST"

// killTimeout is the Containerfile's --kill-timeout: a drain must end
// within it.
const killTimeout = 10 * time.Second

func TestContainer(t *testing.T) {
	if os.Getenv(gateVar) == "" {
		t.Skipf("set %s=1 (make container-test) to build and run the container image", gateVar)
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to make namespaces")
	}
	for _, tool := range []string{"buildah", "unshare", "nsenter", "ip", "chroot", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (Debian packages buildah, util-linux, iproute2, coreutils)", tool)
		}
	}
	work := t.TempDir()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	clusterd := os.Getenv("CLUSTERD_BIN") // make container-test: the binary of make build
	if clusterd == "" {
		clusterd = filepath.Join(work, "clusterd")
		goBuild(t, repo, "./cmd/clusterd", clusterd)
	}
	loadgen := filepath.Join(work, "loadgen")
	goBuild(t, repo, "./bench/loadgen", loadgen)
	orphaner := filepath.Join(work, "orphaner")
	goBuild(t, repo, "./internal/containertest/testdata/orphaner", orphaner)

	img := buildImage(t, repo, clusterd, work)
	rootfs := img.mount(t)
	// What a runtime creates before it starts the entrypoint: mount points.
	for _, dir := range []string{"proc", "dev", "run"} {
		if err := os.MkdirAll(filepath.Join(rootfs, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entrypoint := append(img.config.Entrypoint, img.config.Cmd...)
	t.Logf("image entrypoint and command: %q", entrypoint)

	t.Run("serve-reload-drain", func(t *testing.T) {
		c := run(t, rootfs, entrypoint)
		st := c.waitReady(t, clusterd)
		if st.PID != 1 {
			t.Fatalf("clusterd's pid in the container is %d, want 1", st.PID)
		}
		before := st.workerPIDs()

		// Rolling reload under load.
		load := startLoad(t, c, loadgen, "-c", "8", "-d", "6s", "-json")
		time.Sleep(time.Second) // load flowing before the reload starts
		if err := syscall.Kill(c.pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		var after []int
		waitFor(t, 20*time.Second, "every worker replaced after SIGHUP", func() error {
			st, err := c.status(clusterd)
			if err != nil {
				return err
			}
			after = st.workerPIDs()
			if len(after) != len(before) || !st.allReady() {
				return fmt.Errorf("workers %v, not all ready", after)
			}
			for _, pid := range after {
				if slices.Contains(before, pid) {
					return fmt.Errorf("worker %d of before the reload still runs", pid)
				}
			}
			return nil
		})
		r := load.wait(t)
		if r.failed() > 0 || r.Answered == 0 {
			t.Fatalf("reload under load: %s", r.summary)
		}
		t.Logf("SIGHUP reload %v -> %v under load: %s", before, after, r.summary)

		// Drain: slow requests in flight when SIGTERM comes are all answered,
		// and clusterd exits 0 within its kill timeout.
		slow := startLoad(t, c, loadgen, "-c", "8", "-n", "8", "-path", "/sleep?ms=3000", "-keepalive=false", "-json")
		time.Sleep(time.Second) // the 8 requests are in the workers
		stopped := time.Now()
		if err := syscall.Kill(c.pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code := c.wait(t, killTimeout+5*time.Second)
		drain := time.Since(stopped)
		r = slow.wait(t)
		if r.failed() > 0 || r.Answered != 8 {
			t.Fatalf("drain on SIGTERM: %s", r.summary)
		}
		if code != 0 || drain > killTimeout {
			t.Fatalf("after SIGTERM clusterd exited %d in %v, want 0 within %v\n%s", code, drain, killTimeout, c.output())
		}
		t.Logf("SIGTERM drained in %v (kill timeout %v), exit 0: %s", drain.Round(time.Millisecond), killTimeout, r.summary)
	})

	t.Run("reap-orphans", func(t *testing.T) {
		copyFile(t, orphaner, filepath.Join(rootfs, "orphaner"), 0o755)
		c := run(t, rootfs, []string{entrypoint[0], "-i", "1", "--no-listen", "--", "/orphaner"})
		var leaf int
		waitFor(t, 20*time.Second, "the worker's orphan to be handed to clusterd", func() error {
			for _, pid := range children(c.pid) {
				if cmdline(pid) == "/orphaner leaf" {
					leaf = pid
					return nil
				}
			}
			return errors.New("no orphan among clusterd's children yet")
		})
		syscall.Kill(leaf, syscall.SIGKILL)
		waitFor(t, 10*time.Second, "the orphan to be reaped", func() error {
			state, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", leaf))
			if err != nil {
				return nil // gone: reaped
			}
			return fmt.Errorf("orphan %d still in the process table: %s", leaf, state)
		})
		syscall.Kill(c.pid, syscall.SIGTERM)
		if code := c.wait(t, killTimeout+5*time.Second); code != 0 {
			t.Fatalf("clusterd exited %d after SIGTERM\n%s", code, c.output())
		}
		t.Logf("orphan %d (host pid) reaped by clusterd as PID 1", leaf)
	})
}

func goBuild(t *testing.T, dir, pkg, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// children are the pids whose parent is pid.
func children(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}
