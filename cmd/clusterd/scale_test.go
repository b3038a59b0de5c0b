package main

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScaleUnderLoad: scale up and down, by command and by SIGTTIN and
// SIGTTOU, under load: new workers start, surplus ones drain, not one
// request fails, status shows the count, and a reload keeps it.
func TestScaleUnderLoad(t *testing.T) {
	for _, mode := range []string{"shared", "reuseport"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"-i", "2", "--wait-ready"}
			if mode == "reuseport" {
				args = append(args, "--reuseport")
			}
			c := startCluster(t, clusterOptions{args: args, command: demoCommand(t), waitReady: true})
			l := startLoadConns(t, c.addr(), true, 32)
			l.waitAnswered(t, 500)
			instances := func(want int) {
				t.Helper()
				waitFor(t, 20*time.Second, "the new worker count", func() error {
					st := c.status()
					if st.Instances != want {
						return errNotYet
					}
					_, err := c.readyPIDs()
					return err
				})
			}

			if code, out := run(t, 20*time.Second, "scale", "4", "--control", c.control); code != 0 || !strings.Contains(out, "scaled to 4 instances") {
				t.Fatalf("scale 4: exit %d: %s", code, out)
			}
			instances(4)
			l.waitAnswered(t, 500)
			if code, out := run(t, 20*time.Second, "scale", "-2", "--control", c.control); code != 0 {
				t.Fatalf("scale -2: exit %d: %s", code, out)
			}
			instances(2)
			syscall.Kill(c.cmd.Process.Pid, syscall.SIGTTIN)
			instances(3)
			syscall.Kill(c.cmd.Process.Pid, syscall.SIGTTOU)
			instances(2)
			syscall.Kill(c.cmd.Process.Pid, syscall.SIGTTIN)
			instances(3)
			l.waitAnswered(t, 500)
			before := c.waitAllReady()
			if out := c.reloadBySignal(); out.Outcome != "succeeded" {
				t.Fatalf("reload after scaling: %s", out.Reason)
			}
			after := c.waitAllReady()
			if len(after) != 3 {
				t.Fatalf("a reload changed the scaled count: %d workers", len(after))
			}
			for _, pid := range after {
				if slices.Contains(before, pid) {
					t.Fatalf("reload kept worker %d", pid)
				}
			}
			l.waitAnswered(t, 500)
			l.finish(t)
		})
	}
}

func TestScaleRefusals(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{args: []string{"-i", "1"}, command: []string{"/bin/sleep", "600"}, waitReady: true})
	for _, tc := range []struct{ arg, want string }{
		{"-1", "would make 0 instances"},
		{"lots", `want N, +K or -K, not "lots"`},
		{"100000", "want 1 to 4096"},
	} {
		code, out := run(t, 20*time.Second, "scale", tc.arg, "--control", c.control)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("scale %s: exit %d, %q; want exit 1 with %q", tc.arg, code, out, tc.want)
		}
	}
}
