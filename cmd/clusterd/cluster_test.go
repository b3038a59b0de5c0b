package main

import (
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

	"golang.org/x/sys/unix"
)

// demoCommand runs this binary's demo worker.
func demoCommand(t *testing.T, args ...string) []string {
	return append([]string{bin(t), "demo"}, args...)
}

// TestReloadUnderLoad is the core promise: two SIGHUP reloads of
// `clusterd -i 2 -- clusterd demo` under load fail not one request, with
// keep-alive connections and with a new connection per request, and
// replace every worker.
func TestReloadUnderLoad(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		name := map[bool]string{true: "keep-alive", false: "connection-close"}[keepAlive]
		t.Run(name, func(t *testing.T) {
			c := startCluster(t, clusterOptions{
				args:      []string{"-i", "2", "--wait-ready"},
				command:   demoCommand(t),
				waitReady: true,
			})
			first := c.waitAllReady()
			l := startLoad(t, c.addr(), keepAlive)
			l.waitAnswered(t, 200)
			seen := map[int]bool{}
			for _, pid := range first {
				seen[pid] = true
			}
			for i := range 2 {
				if out := c.reloadBySignal(); out.Outcome != "succeeded" {
					t.Fatalf("reload %d: %s: %s", i+1, out.Outcome, out.Reason)
				}
				pids := c.waitAllReady()
				for _, pid := range pids {
					if seen[pid] {
						t.Fatalf("reload %d kept worker pid %d", i+1, pid)
					}
					seen[pid] = true
				}
				l.waitAnswered(t, 200) // the new workers serve before the next reload
			}
			r := l.finish(t)
			// The last workers took the traffic over. Not necessarily evenly:
			// the kernel may hand every reconnect to one of them (note 10).
			var byFinal int64
			for _, pid := range c.waitAllReady() {
				byFinal += r.ByWorker[strconv.Itoa(pid)]
			}
			if byFinal == 0 {
				t.Errorf("the workers of the last reload answered no request")
			}
		})
	}
}

// TestStrictSystemdWorkerReloads runs a worker in another language that
// insists on the systemd conventions (LISTEN_PID == getpid(), fd 3,
// READY=1 on NOTIFY_SOCKET) and reloads it under load.
func TestStrictSystemdWorkerReloads(t *testing.T) {
	python := lookPython(t)
	script, _ := filepath.Abs("testdata/strict_worker.py")
	c := startCluster(t, clusterOptions{
		args:      []string{"-i", "2", "--wait-ready", "--listen-timeout", "30s"},
		command:   []string{python, script},
		waitReady: true,
	})
	l := startLoad(t, c.addr(), true)
	l.waitAnswered(t, 200)
	for i := range 2 {
		if out := c.reloadBySignal(); out.Outcome != "succeeded" {
			t.Fatalf("reload %d: %s: %s", i+1, out.Outcome, out.Reason)
		}
		l.waitAnswered(t, 100)
	}
	l.finish(t)
	for _, w := range slotWorkers(c.status()) {
		if w.Message != "serving fd 3" {
			t.Errorf("slot %d: STATUS= from the worker not shown: %q", w.Slot, w.Message)
		}
	}
	c.checkNonblocking()
}

func lookPython(t *testing.T) string {
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the foreign-language worker test needs it")
	}
	return p
}

// release is a deploy target: a script the cluster runs, swapped
// atomically (write + rename) the way a deploy swaps a binary.
type release struct {
	t    *testing.T
	path string
}

func newRelease(t *testing.T) *release {
	return &release{t: t, path: filepath.Join(t.TempDir(), "server")}
}

func (r *release) deploy(script string) {
	r.t.Helper()
	tmp := r.path + ".new"
	if err := os.WriteFile(tmp, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		r.t.Fatal(err)
	}
}

// TestReloadAbortsOnNeverReadyRelease deploys a release that serves but
// never says READY: the reload aborts within --listen-timeout, `clusterd
// reload` exits non-zero with the reason, the old workers keep serving with
// no failed request, and a good release afterwards reloads fine.
func TestReloadAbortsOnNeverReadyRelease(t *testing.T) {
	python := lookPython(t)
	script, _ := filepath.Abs("testdata/strict_worker.py")
	rel := newRelease(t)
	rel.deploy(fmt.Sprintf("exec %q demo", bin(t)))
	c := startCluster(t, clusterOptions{
		args:      []string{"-i", "2", "--wait-ready", "--listen-timeout", "1500ms", "--kill-timeout", "5s"},
		command:   []string{rel.path},
		waitReady: true,
	})
	old := c.waitAllReady()
	l := startLoad(t, c.addr(), true)
	l.waitAnswered(t, 200)

	rel.deploy(fmt.Sprintf("NEVER_READY=1 exec %q %q", python, script))
	start := time.Now()
	code, out := run(t, 30*time.Second, "reload", "--control", c.control)
	took := time.Since(start)
	if code != 1 || !strings.Contains(out, "not ready within listen timeout 1.5s") {
		t.Fatalf("clusterd reload of a never-ready release: exit %d, output %q; want exit 1 naming the listen timeout", code, out)
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("error is not one line: %q", out)
	}
	if took > 1500*time.Millisecond+5*time.Second {
		t.Errorf("abort took %s, want about the listen timeout", took)
	}
	st := c.status()
	if st.Reload.Last == nil || st.Reload.Last.Outcome != "aborted" {
		t.Fatalf("status does not show the aborted reload: %+v", st.Reload)
	}
	if now := c.waitAllReady(); !slices.Equal(now, old) {
		t.Fatalf("old workers %v were replaced by %v after an aborted reload", old, now)
	}
	l.waitAnswered(t, 200)

	rel.deploy(fmt.Sprintf("exec %q demo", bin(t)))
	if code, out := run(t, 30*time.Second, "reload", "--control", c.control); code != 0 {
		t.Fatalf("reload of a good release after an abort: exit %d: %s", code, out)
	}
	l.finish(t)
	for _, pid := range c.waitAllReady() {
		if slices.Contains(old, pid) {
			t.Fatalf("good reload kept old worker %d", pid)
		}
	}
}

// TestReloadAbortsWhenNewWorkerDies: a release that exits at once aborts
// the reload at the first slot and touches no old worker.
func TestReloadAbortsWhenNewWorkerDies(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	rel := newRelease(t)
	rel.deploy(fmt.Sprintf("exec %q demo", bin(t)))
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "2", "--wait-ready"}, command: []string{rel.path}, waitReady: true,
	})
	old := c.waitAllReady()
	rel.deploy("echo 'missing config' >&2; exit 3")
	code, out := run(t, 30*time.Second, "reload", "--control", c.control)
	if code != 1 || !strings.Contains(out, "exited before it was ready") {
		t.Fatalf("exit %d, output %q; want exit 1, 'exited before it was ready'", code, out)
	}
	if now := c.waitAllReady(); !slices.Equal(now, old) {
		t.Fatalf("workers changed from %v to %v", old, now)
	}
}

// TestFailedStartsBackOffThenError: a release that cannot start is retried
// with a growing delay, then its slots are marked errored (no hot loop),
// and the next reload with a good release brings them back.
func TestFailedStartsBackOffThenError(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	rel := newRelease(t)
	rel.deploy("exit 3")
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "2", "--max-restarts", "3", "--restart-delay", "20ms", "--min-uptime", "500ms"},
		command: []string{rel.path},
	})
	waitFor(t, 20*time.Second, "both slots to be errored", func() error {
		for _, w := range slotWorkers(c.status()) {
			if w.State != "errored" {
				return fmt.Errorf("slot %d is %s", w.Slot, w.State)
			}
		}
		return nil
	})
	for _, w := range slotWorkers(c.status()) {
		// The first start plus max-restarts retries, and then nothing.
		if w.Restarts != 4 || w.LastExit != "exit code 3" {
			t.Errorf("slot %d: restarts %d last exit %q; want 4 and exit code 3", w.Slot, w.Restarts, w.LastExit)
		}
	}
	c.waitLogged("slot errored", 2)
	if n := strings.Count(c.output.String(), "slot errored"); n != 2 {
		t.Errorf("want one 'slot errored' line per slot, got %d", n)
	}
	// Backoff: the retries of one slot are spaced 20ms, 40ms, 80ms apart at
	// least, so the three retries took at least 140ms.
	rel.deploy(fmt.Sprintf("exec %q demo", bin(t)))
	if code, out := run(t, 30*time.Second, "reload", "--control", c.control); code != 0 {
		t.Fatalf("reload after fixing the release: exit %d: %s", code, out)
	}
	c.waitAllReady()
}

// TestKilledWorkerIsReplaced: a worker killed with SIGKILL after it was
// ready is a crash under load: it is replaced at once.
func TestKilledWorkerIsReplaced(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "2", "--wait-ready"}, command: demoCommand(t), waitReady: true,
	})
	pids := c.waitAllReady()
	killed := time.Now()
	syscall.Kill(pids[0], syscall.SIGKILL)
	var replacement int
	waitFor(t, 10*time.Second, "the killed worker's replacement to be ready", func() error {
		now, err := c.readyPIDs()
		if err != nil {
			return err
		}
		if now[0] == pids[0] {
			return fmt.Errorf("slot 0 still shows pid %d", pids[0])
		}
		replacement = now[0]
		return nil
	})
	t.Logf("SIGKILLed worker %d replaced by ready worker %d after %s (polling status)", pids[0], replacement, time.Since(killed))
	c.waitLogged(fmt.Sprintf("pid=%d exit=\"signal SIGKILL\"", pids[0]), 1)
	if w := slotWorkers(c.status())[0]; w.Restarts != 1 {
		t.Errorf("slot 0 restarts = %d, want 1", w.Restarts)
	}
}

// TestKilledMasterLeavesNoWorker: SIGKILL cannot be caught, so the workers
// must die by their parent-death signal.
func TestKilledMasterLeavesNoWorker(t *testing.T) {
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "3"}, command: demoCommand(t), waitReady: true,
	})
	pids := c.waitAllReady()
	c.cmd.Process.Kill()
	<-c.exited
	waitFor(t, 5*time.Second, "every worker to die with the master", func() error {
		for _, pid := range pids {
			if alive(pid) {
				return fmt.Errorf("worker %d is alive", pid)
			}
		}
		return nil
	})
}

// alive reports whether pid runs (a zombie does not count).
func alive(pid int) bool {
	state := procState(pid)
	return state != "?" && state != "Z"
}

// TestStop covers the three ways to stop: SIGTERM, `clusterd stop`, and
// Ctrl-C in a terminal (SIGINT to the master's process group, which the
// workers are not in). Each drains the workers and exits 0.
func TestStop(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	for _, how := range []string{"SIGTERM", "clusterd stop", "Ctrl-C"} {
		t.Run(strings.ReplaceAll(how, " ", "-"), func(t *testing.T) {
			// --wait-ready: a worker drains once it has set itself up; on a
			// busy machine min-uptime alone can pass before its SIGTERM
			// handler is in place.
			c := startCluster(t, clusterOptions{args: []string{"-i", "2", "--wait-ready"}, command: demoCommand(t), waitReady: true})
			pids := c.waitAllReady()
			for _, pid := range pids {
				if pgid, _ := syscall.Getpgid(pid); pgid != pid {
					t.Fatalf("worker %d is in process group %d, not its own", pid, pgid)
				}
			}
			switch how {
			case "SIGTERM":
				syscall.Kill(c.cmd.Process.Pid, syscall.SIGTERM)
			case "clusterd stop":
				if code, out := run(t, 30*time.Second, "stop", "--control", c.control); code != 0 {
					t.Fatalf("clusterd stop: exit %d: %s", code, out)
				}
			case "Ctrl-C":
				syscall.Kill(-c.cmd.Process.Pid, syscall.SIGINT)
			}
			select {
			case <-c.exited:
			case <-time.After(15 * time.Second):
				t.Fatal("master did not exit")
			}
			if c.exitErr != nil {
				t.Fatalf("master exit: %v", c.exitErr)
			}
			for _, pid := range pids {
				if alive(pid) {
					t.Errorf("worker %d survived the stop", pid)
				}
			}
			if n := strings.Count(c.output.String(), `exit="exit code 0"`); n != 2 {
				t.Errorf("want both workers to drain and exit 0, got %d clean exits", n)
			}
			if _, err := os.Stat(c.control); !os.IsNotExist(err) {
				t.Errorf("control socket left behind: %v", err)
			}
		})
	}
}

// TestWorkerGetsOnlyItsOwn checks what crosses into a worker: fds 0-2, the
// socket at 3 and its notify pipe; LISTEN_* per sd_listen_fds(3) with its
// own pid; none of the master's supervisor variables; and the soft
// RLIMIT_NOFILE the master started with, not the one Go raised.
func TestWorkerGetsOnlyItsOwn(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "1", "-l", "web=127.0.0.1:0"},
		command: []string{"/bin/sleep", "600"},
		env: []string{
			"NOTIFY_SOCKET=@the-masters-own-supervisor", "WATCHDOG_USEC=5000000",
			"TABLEFLIP_HAS_PARENT_7DIU3=1", "LISTEN_FDNAMES=masters", "KEEP_ME=yes",
		},
		waitReady: true,
	})
	pid := c.waitAllReady()[0]
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	var names []string
	for _, fd := range fds {
		names = append(names, fd.Name())
	}
	if strings.Join(names, ",") != "0,1,2,3,4" {
		t.Errorf("worker fds = %v, want 0,1,2,3,4 (stdio, socket, NOTIFY_FD)", names)
	}
	env := procEnv(t, pid)
	want := map[string]string{
		"LISTEN_PID": strconv.Itoa(pid), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "web",
		"NOTIFY_FD": "4", "KEEP_ME": "yes", "CLUSTERD_SLOT": "0",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("worker %s = %q, want %q", k, env[k], v)
		}
	}
	if !strings.HasPrefix(env["NOTIFY_SOCKET"], "@clusterd/") {
		t.Errorf("worker NOTIFY_SOCKET = %q, want its own @clusterd/ socket", env["NOTIFY_SOCKET"])
	}
	for _, k := range []string{"WATCHDOG_USEC", "TABLEFLIP_HAS_PARENT_7DIU3", "CLUSTERD_EXEC_SHIM"} {
		if v, ok := env[k]; ok {
			t.Errorf("worker inherited the master's %s=%s", k, v)
		}
	}
	var ours unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &ours)
	// Our own soft limit was raised by the Go runtime; the original is what
	// /proc/self/limits of a fresh non-Go child shows.
	out, _ := exec.Command("sh", "-c", "ulimit -Sn").Output()
	if got := softNofile(t, pid); got != strings.TrimSpace(string(out)) {
		t.Errorf("worker soft RLIMIT_NOFILE = %s, want the inherited %s", got, strings.TrimSpace(string(out)))
	}
}

func procEnv(t *testing.T, pid int) map[string]string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(raw), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

func softNofile(t *testing.T, pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			return strings.Fields(line)[3]
		}
	}
	t.Fatal("no open-files line in /proc/pid/limits")
	return ""
}

// TestNotifyFromAnotherProcessIsIgnored: only the worker (or a process in
// its group) can mark it ready; a message from any other process is
// dropped and logged.
func TestNotifyFromAnotherProcessIsIgnored(t *testing.T) {
	t.Parallel() // waits more than it computes: see harness_test.go
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "1", "--wait-ready", "--listen-timeout", "30s"},
		command: []string{"/bin/sleep", "600"},
	})
	var pid int
	waitFor(t, 10*time.Second, "the worker to have exec'd its command", func() error {
		w := slotWorkers(c.status())[0]
		if w.PID == 0 {
			return fmt.Errorf("no worker yet")
		}
		pid = w.PID
		// Until the shim's execve is done, /proc/pid is the shim's; and the
		// kernel switches /proc/pid/exe before it fills in the new
		// environment (begin_new_exec, then create_elf_tables).
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != "/usr/bin/sleep" && exe != "/bin/sleep" {
			return fmt.Errorf("pid %d runs %q", pid, exe)
		}
		if procEnv(t, pid)["NOTIFY_SOCKET"] == "" {
			return fmt.Errorf("pid %d has no environment yet", pid)
		}
		return nil
	})
	addr := procEnv(t, pid)["NOTIFY_SOCKET"]
	sendNotify(t, addr, "READY=1")
	waitFor(t, 5*time.Second, "the forged message to be logged", func() error {
		if !strings.Contains(c.output.String(), "notify messages ignored") {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
	if w := slotWorkers(c.status())[0]; w.State != "starting" {
		t.Fatalf("a READY=1 from another process made the worker %s", w.State)
	}
	// The worker itself can: a child in its process group speaks for it.
	pipeFD := procEnv(t, pid)["NOTIFY_FD"]
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/%s", pid, pipeFD), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("READY=1\n")
	f.Close()
	c.waitAllReady()
}

func sendNotify(t *testing.T, addr, msg string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	name := addr
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	if err := unix.Sendto(fd, []byte(msg), 0, &unix.SockaddrUnix{Name: name}); err != nil {
		t.Fatal(err)
	}
}

// checkNonblocking verifies docs/design.md §2 on the live cluster of
// workers that asked for a non-blocking socket: the shared listening
// description is O_NONBLOCK in the master and in every worker, so nothing
// (a Fd() call in the master) switched it back behind the workers.
func (c *cluster) checkNonblocking() {
	c.t.Helper()
	st := c.status()
	inode := socketInodes(c.t, st.PID)
	if len(inode) == 0 {
		c.t.Fatal("found no socket in the master")
	}
	pids := []int{st.PID}
	for _, w := range slotWorkers(st) {
		pids = append(pids, w.PID)
	}
	for _, pid := range pids {
		found := false
		for fd, ino := range socketInodes(c.t, pid) {
			if !slices.Contains(listeningInodes(c.t, st.PID), ino) {
				continue
			}
			found = true
			if flags := openFlags(pid, fd); flags&unix.O_NONBLOCK == 0 {
				c.t.Errorf("pid %d fd %s (the shared listening socket) has flags %o: O_NONBLOCK is gone", pid, fd, flags)
			}
		}
		if !found {
			c.t.Errorf("pid %d does not hold the listening socket", pid)
		}
	}
}

// openFlags are the status flags of a process's descriptor, which live on
// its open file description (O_NONBLOCK among them): -1 if unreadable.
func openFlags(pid int, fd string) int64 {
	info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, _ := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			return flags
		}
	}
	return -1
}

// socketInodes maps a process's socket fds to their inodes.
func socketInodes(t *testing.T, pid int) map[string]string {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(link, "socket:["); ok && err == nil {
			out[fd.Name()] = strings.TrimSuffix(ino, "]")
		}
	}
	return out
}

// listeningInodes are the inodes of TCP sockets in LISTEN state that the
// master holds.
func listeningInodes(t *testing.T, masterPID int) []string {
	var listening []string
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		raw, _ := os.ReadFile(file)
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == "0A" {
				listening = append(listening, f[9])
			}
		}
	}
	var ours []string
	for _, ino := range socketInodes(t, masterPID) {
		if slices.Contains(listening, ino) {
			ours = append(ours, ino)
		}
	}
	return ours
}

// TestReusePortSpreadsConnections: with --reuseport each slot has its own
// socket in a SO_REUSEPORT group held by the master, so keep-alive
// connections spread evenly (a shared socket lets one worker take most,
// note 10), a reload still fails nothing, and a slot keeps its socket
// (same inode) across the reload: its queue waits for the successor.
func TestReusePortSpreadsConnections(t *testing.T) {
	c := startCluster(t, clusterOptions{
		args: []string{"-i", "2", "--wait-ready", "--reuseport"}, command: demoCommand(t), waitReady: true,
	})
	before := c.waitAllReady()
	sockets := func(pid int) []string {
		var inodes []string
		for _, ino := range socketInodes(t, pid) {
			if slices.Contains(listeningInodes(t, c.status().PID), ino) {
				inodes = append(inodes, ino)
			}
		}
		return inodes
	}
	slot0, slot1 := sockets(before[0]), sockets(before[1])
	if len(slot0) != 1 || len(slot1) != 1 || slot0[0] == slot1[0] {
		t.Fatalf("want one socket per slot, each its own: slot 0 %v, slot 1 %v", slot0, slot1)
	}
	steady := startLoadConns(t, c.addr(), true, 64)
	steady.waitAnswered(t, 5000)
	r := steady.finish(t)
	for _, pid := range before {
		// 64 connections hashed over 2 sockets: a share below a quarter
		// has a chance of about 1e-5 when the kernel spreads them evenly.
		if share := float64(r.ByWorker[strconv.Itoa(pid)]) / float64(r.Answered); share < 0.25 {
			t.Errorf("worker %d answered only %.0f%% of the requests", pid, share*100)
		}
	}

	l := startLoadConns(t, c.addr(), true, 64)
	l.waitAnswered(t, 2000)
	if out := c.reloadBySignal(); out.Outcome != "succeeded" {
		t.Fatalf("reload: %s", out.Reason)
	}
	after := c.waitAllReady()
	l.waitAnswered(t, 2000)
	l.finish(t)
	if got := sockets(after[0]); !slices.Equal(got, slot0) {
		t.Errorf("slot 0's socket changed across the reload: %v -> %v", slot0, got)
	}
}
