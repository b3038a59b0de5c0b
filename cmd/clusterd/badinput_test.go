package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBadInput: every mistake gets one clear line on stderr naming the
// problem and a non-zero exit; never a panic, a stack trace or a usage dump.
func TestBadInput(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	dir := t.TempDir()
	notExec := filepath.Join(dir, "server.sh")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	control := filepath.Join(dir, "c.sock")

	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"unknown flag", []string{"--bogus", "--", "true"}, 2, "unknown flag: --bogus"},
		{"bad instances", []string{"-i", "lots", "--", "true"}, 2, `want a number of workers (1 or more; 0 means max), max or -1, not "lots"`},
		{"zero-ish instances", []string{"-i", "-5", "--", "true"}, 2, `not "-5"`},
		{"bad duration", []string{"--kill-timeout", "soon", "--", "true"}, 2, "want a duration like 1600ms or 5s"},
		{"no command", []string{"-i", "2"}, 2, "no command given"},
		{"missing command", []string{"--control", control, "--", "./no-such-server"}, 1, `command "./no-such-server": no such file`},
		{"command not in PATH", []string{"--control", control, "--", "no-such-server-anywhere"}, 1, `command "no-such-server-anywhere" not found in PATH`},
		{"not executable", []string{"--control", control, "--", notExec}, 1, "is not executable"},
		{"directory", []string{"--control", control, "--", dir}, 1, "is a directory"},
		{"port in use", []string{"--control", control, "-l", busy.Addr().String(), "--", "true"}, 1, "address already in use"},
		{"bad listen", []string{"--control", control, "-l", "3000", "--", "true"}, 1, "want host:port, :port, [::1]:port or unix:/path"},
		{"watch path without =", []string{"--control", control, "--watch", dir, "--", "true"}, 2, "--watch=" + dir},
		{"watch path that does not exist", []string{"--control", control, "-l", "127.0.0.1:0", "--watch=" + filepath.Join(dir, "nope"), "--", "true"}, 1, "no such file or directory"},
		{"too many instances", []string{"--control", control, "-i", "5000", "--", "true"}, 2, "want at most 4096 instances"},
		{"status without master", []string{"status", "--control", control}, 1, "no clusterd master is running there"},
		{"reload without master", []string{"reload", "--control", control}, 1, "no clusterd master is running there"},
		{"status extra arg", []string{"status", "web", "now"}, 1, `unknown command "web"`},
		{"app and another --name", []string{"status", "web", "--name", "api"}, 2, "the app is web or --name api: say it once"},
		{"env without a file", []string{"--env", "production", "--", "./server"}, 2, "--env production chooses a profile of a config file"},
		{"demo bad crash rate", []string{"demo", "--crash-rate", "2"}, 2, "--crash-rate must be between 0 and 1"},
	}
	if os.Getuid() == 0 {
		// Root may bind anywhere; a privileged-port failure needs another user.
	} else {
		cases = append(cases, struct {
			name     string
			args     []string
			wantCode int
			want     string
		}{"privileged port", []string{"--control", control, "-l", "127.0.0.1:80", "--", "true"}, 1, "permission denied"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := run(t, 20*time.Second, tc.args...)
			if code != tc.wantCode || !strings.Contains(out, tc.want) {
				t.Fatalf("clusterd %s: exit %d, output %q; want exit %d and %q", strings.Join(tc.args, " "), code, out, tc.wantCode, tc.want)
			}
			if lines := strings.Count(strings.TrimRight(out, "\n"), "\n") + 1; lines != 1 || !strings.HasPrefix(out, "clusterd: ") {
				t.Errorf("want one line starting 'clusterd: ', got %d lines: %q", lines, out)
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "Usage:") {
				t.Errorf("output has a stack trace or usage dump: %q", out)
			}
		})
	}
}

// TestSecondMasterOnSameControlSocket: the control socket is the master's
// identity; a second master must refuse it, and the first keeps running.
func TestSecondMasterOnSameControlSocket(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{args: []string{"-i", "1"}, command: demoCommand(t), waitReady: true})
	pids := c.waitAllReady()
	code, out := run(t, 20*time.Second, "--control", c.control, "-l", "127.0.0.1:0", "--", bin(t), "demo")
	if code != 1 || !strings.Contains(out, "is in use by another clusterd master") {
		t.Fatalf("second master: exit %d, %q", code, out)
	}
	if now := c.waitAllReady(); now[0] != pids[0] {
		t.Fatalf("the first master's worker changed")
	}
}

// TestControlSocketIsPrivate: mode 0600, and a process of another user
// gets no answer (SO_PEERCRED), even where file modes would let it in.
func TestControlSocketIsPrivate(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{args: []string{"-i", "1"}, command: demoCommand(t), waitReady: true})
	fi, err := os.Stat(c.control)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("control socket mode %o, want 600", perm)
	}
	if os.Getuid() != 0 {
		t.Skip("checking another user's access needs root to switch users")
	}
	// Open the file modes so only the SO_PEERCRED check stands in the way,
	// and put a copy of this binary where user nobody may run it.
	os.Chmod(c.control, 0o666)
	os.Chmod(filepath.Dir(c.control), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(c.control)), 0o755)
	shared, err := os.MkdirTemp("", "clusterd-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(shared)
	os.Chmod(shared, 0o755)
	exe := filepath.Join(shared, "clusterd")
	if raw, err := os.ReadFile(bin(t)); err != nil || os.WriteFile(exe, raw, 0o755) != nil {
		t.Fatalf("copy test binary: %v", err)
	}
	cmd := exec.Command(exe, "status", "--control", c.control)
	cmd.Env = tagEnv(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), `"pid"`) {
		t.Fatalf("user nobody got an answer: %v %s", err, out)
	}
	if !strings.Contains(string(out), "no answer") {
		t.Errorf("want the client to say it got no answer, got %q", out)
	}
}

// TestReloadRequestsDuringReloadQueue: a reload asked for during another
// one runs after it, never interleaved, and every asker gets its outcome.
func TestReloadRequestsDuringReloadQueue(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{
		// --min-uptime stretches each slot's replacement so the requests overlap.
		args:    []string{"-i", "2", "--min-uptime", "400ms"},
		command: []string{"/bin/sleep", "600"}, waitReady: true,
	})
	results := make(chan int, 2)
	for range 2 {
		go func() {
			code, _ := run(t, 60*time.Second, "reload", "--control", c.control)
			results <- code
		}()
	}
	waitFor(t, 10*time.Second, "a reload to be queued behind the running one", func() error {
		st := c.status()
		if !st.Reload.Queued {
			return errNotYet
		}
		return nil
	})
	syscall.Kill(c.cmd.Process.Pid, syscall.SIGHUP) // joins the queued one
	for range 2 {
		if code := <-results; code != 0 {
			t.Fatalf("a reload client exited %d", code)
		}
	}
	st := c.status()
	if st.Reload.Last.Generation != 3 || st.Reload.Last.Outcome != "succeeded" {
		t.Fatalf("want generations 2 and 3 to run one after the other, last is %+v", st.Reload.Last)
	}
	c.waitLogged("rolling reload started", 2)
	if strings.Count(c.output.String(), "rolling reload started") != 2 {
		t.Errorf("want exactly two reloads (the SIGHUP joined the queued one):\n%s", c.output)
	}
}
