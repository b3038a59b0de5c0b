package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/logcapture"
	"golang.org/x/sys/unix"
)

// completeLines returns the lines of a file that end in a newline: a file
// the master is still writing may end in a line being written.
func completeLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	return lines[:len(lines)-1]
}

func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	waitFor(t, 60*time.Second, fmt.Sprintf("%d lines in %s", n, filepath.Base(path)), func() error {
		if lines = completeLines(t, path); len(lines) < n {
			return fmt.Errorf("%d lines so far", len(lines))
		}
		return nil
	})
	return lines
}

// TestLogLinesFromTwoWorkersNeverMix: two workers write long lines (each
// several pipe writes) at the same time into one --log file. The lines
// interleave, but every one arrives whole, in order, with its own worker's
// prefix.
func TestLogLinesFromTwoWorkersNeverMix(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	const perWorker, width = 300, 20_000
	logFile := filepath.Join(t.TempDir(), "app.log")
	// The padding is the slot's digit, so a line mixed from two workers
	// cannot pass the check below.
	script := fmt.Sprintf(`pad=$(head -c %d /dev/zero | tr '\0' "$CLUSTERD_SLOT")
i=0; while [ $i -lt %d ]; do echo "slot=$CLUSTERD_SLOT seq=$i $pad end"; i=$((i+1)); done
exec sleep 600`, width, perWorker)
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "2", "--log", logFile}, command: []string{"sh", "-c", script},
	})
	lines := waitLines(t, logFile, 2*perWorker)
	pids := c.waitAllReady()
	line := regexp.MustCompile(`^(\S+) default/([01])\[(\d+)\] out \| slot=([01]) seq=(\d+) ([01]+) end$`)
	next := [2]int{}
	switches := 0
	for i, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d is not one whole line of one worker: %.120q...", i, l)
		}
		slot, _ := strconv.Atoi(m[2])
		pid, _ := strconv.Atoi(m[3])
		seq, _ := strconv.Atoi(m[5])
		if _, err := time.Parse(logcapture.DefaultTimeFormat, m[1]); err != nil {
			t.Errorf("line %d: timestamp: %v", i, err)
		}
		if m[4] != m[2] || pid != pids[slot] || len(m[6]) != width || strings.Trim(m[6], m[2]) != "" {
			t.Fatalf("line %d: prefix slot %s pid %d, payload slot %s, %d bytes of padding: mixed", i, m[2], pid, m[4], len(m[6]))
		}
		if seq != next[slot] {
			t.Fatalf("line %d: slot %d seq %d, want %d: a line is lost or out of order", i, slot, seq, next[slot])
		}
		next[slot]++
		if i > 0 && !strings.Contains(lines[i-1], fmt.Sprintf("default/%d[", slot)) {
			switches++
		}
	}
	t.Logf("%d lines of %d bytes from 2 workers; the writer changed %d times", len(lines), width, switches)

	// Each worker's stdout and stderr are pipes of its own (docs/design.md §3:
	// no worker holds another's).
	seen := map[string]string{}
	for _, pid := range pids {
		for _, fd := range []string{"1", "2"} {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd))
			if err != nil || !strings.HasPrefix(link, "pipe:") {
				t.Errorf("worker %d fd %s is %q (%v), want a pipe", pid, fd, link, err)
			}
			if other, ok := seen[link]; ok {
				t.Errorf("worker %d fd %s is the same pipe as %s", pid, fd, other)
			}
			seen[link] = fmt.Sprintf("worker %d fd %s", pid, fd)
		}
	}
}

// TestLongAndPartialLinesAsJSON: a line longer than the pipe's 64 KiB and a
// last line without a newline (the worker exits after it) arrive whole,
// and --log-json lines parse, with every field.
func TestLongAndPartialLinesAsJSON(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	logFile := filepath.Join(t.TempDir(), "app.log")
	const long = 70_000
	script := fmt.Sprintf(`head -c %d /dev/zero | tr '\0' a; echo; printf 'last words, no newline' >&2; exit 3`, long)
	c := startCluster(t, clusterOptions{
		// No restart: the worker runs once, so these are all its lines.
		args:    []string{"-i", "1", "--log", logFile, "--log-json", "--max-restarts", "0"},
		command: []string{"sh", "-c", script},
	})
	lines := waitLines(t, logFile, 2)
	type record struct {
		Time, App, Stream, Line string
		Slot, PID               int
	}
	byStream := map[string]record{}
	for _, l := range lines {
		var r record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("--log-json line does not parse: %v: %.200q", err, l)
		}
		if _, err := time.Parse(logcapture.DefaultTimeFormat, r.Time); err != nil || r.App != "default" || r.Slot != 0 || r.PID <= 0 {
			t.Errorf("fields: %+v (time: %v)", r, err)
		}
		byStream[r.Stream] = r
	}
	if out := byStream["out"].Line; out != strings.Repeat("a", long) {
		t.Errorf("the %d-byte line arrived as %d bytes", long, len(out))
	}
	if got := byStream["err"].Line; got != "last words, no newline" {
		t.Errorf("the partial last line arrived as %q", got)
	}
	if byStream["out"].PID != byStream["err"].PID {
		t.Errorf("two pids for one worker: %+v", byStream)
	}
	if len(lines) != 2 {
		t.Errorf("want 2 lines, got %d", len(lines))
	}
	c.status()
}

// TestReopenAfterRename: logrotate moves the file, then runs `clusterd
// reopen-logs` or sends SIGUSR1; new lines land in a new file of the old
// name, and not one line is lost or repeated across the three files.
func TestReopenAfterRename(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	logFile := filepath.Join(t.TempDir(), "app.log")
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "1", "--log", logFile, "--no-log-time"},
		command: []string{"sh", "-c", `i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.01; done`},
	})
	waitLines(t, logFile, 1)
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, 20*time.Second, "reopen-logs", "--control", c.control); code != 0 {
		t.Fatalf("reopen-logs: exit %d: %s", code, out)
	}
	waitLines(t, logFile, 1)
	if err := os.Rename(logFile, logFile+".2"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(c.cmd.Process.Pid, syscall.SIGUSR1)
	waitLines(t, logFile, 1)

	seq := -1
	for _, name := range []string{logFile + ".1", logFile + ".2", logFile} {
		lines := completeLines(t, name)
		if len(lines) == 0 {
			t.Fatalf("%s is empty", filepath.Base(name))
		}
		for _, l := range lines {
			_, tick, ok := strings.Cut(l, "] out | tick ")
			n, err := strconv.Atoi(tick)
			if !ok || err != nil || n != seq+1 {
				t.Fatalf("%s: %q after tick %d: a line lost or repeated across the reopen", filepath.Base(name), l, seq)
			}
			seq = n
		}
	}
	waitFor(t, 20*time.Second, "both reopens in the master's log", func() error {
		if n := strings.Count(c.output.String(), "log files reopened"); n != 2 {
			return fmt.Errorf("%d 'log files reopened' lines", n)
		}
		return nil
	})
}

// TestLogsCommand: `clusterd logs --lines 5` shows the last five lines,
// and `--follow` prints the newest lines and then new ones as they come.
// Without a log file, the lines also go to the master's stdout.
func TestLogsCommand(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	trigger := filepath.Join(t.TempDir(), "go-on")
	script := fmt.Sprintf(`i=1; while [ $i -le 20 ]; do echo "line $i"; i=$((i+1)); done
while [ ! -e %q ]; do sleep 0.01; done
echo "after the trigger"; exec sleep 600`, trigger)
	c := startCluster(t, clusterOptions{args: []string{"-i", "1"}, command: []string{"sh", "-c", script}, waitReady: true})
	pid := c.waitAllReady()[0]
	var out string
	waitFor(t, 20*time.Second, "line 20 in clusterd logs", func() error {
		var code int
		if code, out = run(t, 20*time.Second, "logs", "--lines", "5", "--control", c.control); code != 0 {
			t.Fatalf("clusterd logs: exit %d: %s", code, out)
		}
		if !strings.Contains(out, "| line 20\n") {
			return errNotYet
		}
		return nil
	})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("logs --lines 5 printed %d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		if want := fmt.Sprintf(" default/0[%d] out | line %d", pid, 16+i); !strings.HasSuffix(l, want) {
			t.Errorf("line %d: %q, want it to end in %q", i, l, want)
		}
	}
	c.waitLogged(fmt.Sprintf(" default/0[%d] out | line 1\n", pid), 1)

	follow := exec.Command(bin(t), "logs", "--follow", "--lines", "2", "--control", c.control)
	follow.Env = tagEnv(t)
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follow.Process.Kill(); follow.Wait() })
	followed := make(chan string, 10)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			followed <- lines.Text()
		}
		close(followed)
	}()
	next := func(want string) {
		t.Helper()
		select {
		case l, ok := <-followed:
			if !ok || !strings.HasSuffix(l, "out | "+want) {
				t.Fatalf("logs --follow printed %q (open %v), want a line ending in %q", l, ok, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("logs --follow printed nothing within 20s; want %q", want)
		}
	}
	next("line 19")
	next("line 20")
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	next("after the trigger")
}

// TestStalledLogDoesNotBlockSupervision: the log (here a FIFO that nobody
// reads) stops draining while two workers flood their stdout. The workers
// are slowed down by their full pipes, but the master goes on
// supervising: status answers, a killed worker is replaced, a rolling
// reload completes, and `clusterd logs` still shows lines.
func TestStalledLogDoesNotBlockSupervision(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	fifo := filepath.Join(t.TempDir(), "out.fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A reader that never reads, so the master's writes block once the
	// FIFO's buffer is full.
	stalled, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "2", "--out-file", fifo, "--min-uptime", "200ms"},
		command: []string{"sh", "-c", "exec yes flood"},
	})
	// Cleanups run last first: the stall ends before the master stops.
	t.Cleanup(func() { stalled.Close() })
	waitFor(t, 20*time.Second, "the log FIFO to be full", func() error {
		n, err := unix.IoctlGetInt(int(stalled.Fd()), unix.TIOCINQ) // FIONREAD
		// Full: less room left than one more line needs (64 KiB pipe).
		if err != nil || n < 60<<10 {
			return fmt.Errorf("%d bytes queued (%v)", n, err)
		}
		return nil
	})
	pids := c.waitAllReady()

	start := time.Now()
	c.status()
	t.Logf("status answered in %s with the log stalled", time.Since(start))
	syscall.Kill(pids[0], syscall.SIGKILL)
	waitFor(t, 20*time.Second, "the killed worker's replacement", func() error {
		now, err := c.readyPIDs()
		if err != nil {
			return err
		}
		if now[0] == pids[0] {
			return errNotYet
		}
		return nil
	})
	if code, out := run(t, 60*time.Second, "reload", "--control", c.control); code != 0 {
		t.Fatalf("reload with the log stalled: exit %d: %s", code, out)
	}
	if code, out := run(t, 20*time.Second, "logs", "--lines", "3", "--control", c.control); code != 0 || strings.Count(out, "out | flood\n") != 3 {
		t.Fatalf("logs with the log stalled: exit %d: %q", code, out)
	}
}

// TestLogFlagErrors: a wrong log flag is one clear line and a non-zero exit,
// before any worker starts.
func TestLogFlagErrors(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	dir := t.TempDir()
	control := filepath.Join(dir, "c.sock")
	logFile := filepath.Join(dir, "app.log")
	cases := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"--log-max-size", "big", "--", "true"}, 2, "want a size like 10M"},
		{[]string{"--control", control, "--log", logFile, "--log-max-size", "1M", "--", "true"}, 1, "--log-max-size must be at least 2M"},
		{[]string{"--control", control, "--log-max-size", "10M", "--", "true"}, 1, "give --log, --out-file or --error-file"},
		{[]string{"--control", control, "--log", filepath.Join("/proc/self/status", "app.log"), "--", "true"}, 1, "log file: open"},
		{[]string{"logs", "--lines", "-1", "--control", control}, 2, "--lines must not be negative"},
		{[]string{"logs", "--control", control}, 1, "no clusterd master is running there"},
		{[]string{"reopen-logs", "--control", control}, 1, "no clusterd master is running there"},
	}
	for _, tc := range cases {
		code, out := run(t, 20*time.Second, tc.args...)
		if code != tc.wantCode || !strings.Contains(out, tc.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("clusterd %s: exit %d, output %q; want exit %d and one line with %q", strings.Join(tc.args, " "), code, out, tc.wantCode, tc.want)
		}
	}
}

// TestLogsFromFilesOutErrRaw: with log files, `logs` shows history the
// master's memory (1000 lines) no longer holds, read back from the files as
// pm2 logs does; --out and --err pick a stream, --raw leaves only the
// workers' text.
func TestLogsFromFilesOutErrRaw(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	dir := t.TempDir()
	outFile, errFile := filepath.Join(dir, "out.log"), filepath.Join(dir, "err.log")
	script := `i=1; while [ $i -le 1500 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; exec sleep 600`
	c := startCluster(t, clusterOptions{args: []string{"-i", "1", "--out-file", outFile, "--error-file", errFile},
		command: []string{"sh", "-c", script}, waitReady: true})
	var out string
	waitFor(t, 30*time.Second, "the last line in the file", func() error {
		b, _ := os.ReadFile(errFile)
		if !strings.Contains(string(b), "| err 1500\n") {
			return errNotYet
		}
		return nil
	})
	code, out := run(t, 20*time.Second, "logs", "--lines", "1200", "--err", "--raw", "--control", c.control)
	if code != 0 {
		t.Fatalf("clusterd logs: exit %d: %s", code, out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1200 || lines[0] != "err 301" || lines[1199] != "err 1500" {
		t.Fatalf("logs --lines 1200 --err --raw: %d lines, first %q, last %q; want err 301 to err 1500",
			len(lines), lines[0], lines[len(lines)-1])
	}
	code, out = run(t, 20*time.Second, "logs", "--lines", "2", "--out", "--control", c.control)
	if code != 0 || strings.Count(out, " out | out 1500\n") != 1 || strings.Contains(out, "err") {
		t.Errorf("logs --lines 2 --out: exit %d:\n%s", code, out)
	}
	if code, out := run(t, 20*time.Second, "logs", "--out", "--err", "--control", c.control); code == 0 || !strings.Contains(out, "choose one") {
		t.Errorf("--out --err: exit %d: %s", code, out)
	}
}
