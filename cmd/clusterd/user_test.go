package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWorkersRunAsUser: the master (root) binds a privileged port, and
// every worker runs as --user with its group and no supplementary groups,
// serving that port, through a reload too.
func TestWorkersRunAsUser(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	if os.Getuid() != 0 {
		t.Skip("--user needs the master to run as root")
	}
	// A copy of this binary where user nobody may run it.
	shared, err := os.MkdirTemp("", "clusterd-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	os.Chmod(shared, 0o755)
	exe := filepath.Join(shared, "clusterd")
	if raw, err := os.ReadFile(bin(t)); err != nil || os.WriteFile(exe, raw, 0o755) != nil {
		t.Fatalf("copy test binary: %v", err)
	}
	c := startCluster(t, clusterOptions{
		args:      []string{"-i", "2", "--wait-ready", "--user", "nobody", "--cwd", "/", "-l", "127.0.0.1:81"},
		command:   []string{exe, "demo"},
		waitReady: true,
	})
	check := func() {
		for _, pid := range c.waitAllReady() {
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(status), "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) > 1 && (f[0] == "Uid:" || f[0] == "Gid:") && (f[1] != "65534" || f[2] != "65534"):
					t.Errorf("worker %d %s", pid, line)
				case len(f) > 0 && f[0] == "Groups:" && len(f) > 1:
					t.Errorf("worker %d kept supplementary groups: %s", pid, line)
				}
			}
			if env := procEnv(t, pid); env["USER"] != "nobody" {
				t.Errorf("worker %d USER=%q, want nobody", pid, env["USER"])
			}
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://127.0.0.1:81/")
		if err != nil {
			t.Fatalf("request to the privileged port: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "hello from worker") {
			t.Fatalf("answer %q", body)
		}
	}
	check()
	if out := c.reloadBySignal(); out.Outcome != "succeeded" {
		t.Fatalf("reload: %s", out.Reason)
	}
	check()
	if code, out := run(t, 10*time.Second, "--control", filepath.Join(t.TempDir(), "c.sock"), "--user", "no-such-user-here", "--", "/bin/true"); code != 1 || !strings.Contains(out, `--user "no-such-user-here": no such user`) {
		t.Errorf("unknown user: exit %d, %q", code, out)
	}
}
