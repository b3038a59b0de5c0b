package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/daemon"
)

// pm2Home gives the test a user of its own: a control directory
// (XDG_RUNTIME_DIR) and a state directory (CLUSTERD_HOME) that no other
// test shares. Cleanup stops every background master with `clusterd kill`
// and fails the test for any process left running.
func pm2Home(t *testing.T) (state string) {
	t.Helper()
	state = t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	t.Setenv("CLUSTERD_HOME", state)
	t.Cleanup(func() {
		if code, out := run(t, 60*time.Second, "kill"); code != 0 {
			t.Errorf("kill: exit %d: %s", code, out)
		}
		var leaked []int
		deadline := time.Now().Add(10 * time.Second)
		for {
			if leaked = taggedProcesses(runID(t)); len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, pid := range leaked {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if len(leaked) > 0 {
			t.Errorf("processes left running after clusterd kill: %v", leaked)
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(state, "daemon.log"))
			t.Logf("daemon.log:\n%s", log)
		}
	})
	return state
}

// startDemo starts `clusterd start BIN --name NAME ... -- demo` in the
// background and returns the app's status once start has returned.
func startDemo(t *testing.T, name string, flags ...string) *control.Status {
	t.Helper()
	args := append([]string{"start", bin(t), "--name", name, "-l", "127.0.0.1:0"}, flags...)
	code, out := run(t, 60*time.Second, append(args, "--", "demo")...)
	if code != 0 {
		t.Fatalf("start: exit %d: %s", code, out)
	}
	if !strings.Contains(out, name) || !strings.Contains(out, "ready") {
		t.Errorf("start printed no table of ready workers:\n%s", out)
	}
	return appStatus(t, name)
}

// appStatus is the status of the app called name, every slot ready.
func appStatus(t *testing.T, name string) *control.Status {
	t.Helper()
	st, err := appClient(t, name).Status()
	if err != nil {
		t.Fatalf("status of %s: %v", name, err)
	}
	if !daemon.AllReady(st) {
		t.Fatalf("app %s is not ready: %+v", name, st.Workers)
	}
	return st
}

// serves checks that the app answers HTTP at addr.
func serves(t *testing.T, addr string) {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Close = true // no idle connection for the worker to wait for when it stops
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", addr, resp.Status)
	}
}

// workerPIDs are the pids of the workers that serve: not those a reload
// replaced, which may still be draining when it returns.
func workerPIDs(st *control.Status) []int {
	var pids []int
	for _, w := range st.Workers {
		if w.State != "stopping" {
			pids = append(pids, w.PID)
		}
	}
	return pids
}

// TestStartInBackgroundSurvivesHangup: start returns once the app is ready,
// with its master in a session of its own, so hanging up the session start
// ran in (a terminal closing: SIGHUP to its process group) leaves the app
// serving.
func TestStartInBackgroundSurvivesHangup(t *testing.T) {
	pm2Home(t)
	done := filepath.Join(t.TempDir(), "started")
	// A shell of its own session, as a terminal's: it runs start, then
	// waits as a login shell would.
	sh := exec.Command("/bin/sh", "-c", fmt.Sprintf(`"$0" start "$0" --name web -i 2 -l 127.0.0.1:0 -- demo > %s 2>&1; echo $? >> %s; exec sleep 600`, done+".out", done), bin(t))
	sh.Env = tagEnv(t)
	sh.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer sh.Wait()
	defer syscall.Kill(-sh.Process.Pid, syscall.SIGKILL)
	waitFor(t, 60*time.Second, "start to return", func() error {
		b, err := os.ReadFile(done)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("not yet")
		}
		if strings.TrimSpace(string(b)) != "0" {
			out, _ := os.ReadFile(done + ".out")
			t.Fatalf("start exited %s: %s", b, out)
		}
		return nil
	})
	st := appStatus(t, "web")
	if sid, _ := unix.Getsid(st.PID); sid == sh.Process.Pid {
		t.Fatalf("the master is in the session start ran in (%d)", sid)
	}
	// The terminal goes away.
	if err := syscall.Kill(-sh.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	sh.Wait()
	serves(t, st.Listeners[0])
	after := appStatus(t, "web")
	if after.PID != st.PID || !slices.Equal(workerPIDs(after), workerPIDs(st)) {
		t.Errorf("master or workers changed after the hangup: %d %v, then %d %v", st.PID, workerPIDs(st), after.PID, workerPIDs(after))
	}
}

// TestStopListStartDelete: a stopped app stays listed as stopped, start NAME
// brings it back with the same settings, delete forgets it.
func TestStopListStartDelete(t *testing.T) {
	pm2Home(t)
	startDemo(t, "web", "-i", "2")
	if code, out := run(t, 30*time.Second, "stop", "web"); code != 0 || strings.TrimSpace(out) != "stopped web" {
		t.Fatalf("stop: exit %d: %s", code, out)
	}
	code, out := run(t, 30*time.Second, "ls")
	if code != 0 || !regexpMatch(`(?m)^web\s+-\s+-\s+-\s+-\s+-\s+stopped\s+-\s+-\s*$`, out) {
		t.Fatalf("ls after stop: exit %d:\n%s", code, out)
	}
	if code, out := run(t, 60*time.Second, "start", "web"); code != 0 {
		t.Fatalf("start web: exit %d: %s", code, out)
	}
	st := appStatus(t, "web")
	if st.Instances != 2 {
		t.Errorf("started again with %d instances, want the 2 it was started with", st.Instances)
	}
	serves(t, st.Listeners[0])
	code, out = run(t, 30*time.Second, "list")
	if code != 0 || strings.Count(out, "ready") != 2 || !regexpMatch(`(?m)^web\s+-\s+1\s+\d+\s+\S+\s+0\s+ready\s+\d+%\s+[\d.]+ MiB\s*$`, out) {
		t.Errorf("list: exit %d:\n%s", code, out)
	}
	if code, out := run(t, 30*time.Second, "delete", "web"); code != 0 || strings.TrimSpace(out) != "deleted web" {
		t.Fatalf("delete: exit %d: %s", code, out)
	}
	if _, out := run(t, 30*time.Second, "ls"); strings.Contains(out, "web") {
		t.Errorf("ls lists a deleted app:\n%s", out)
	}
	if code, out := run(t, 30*time.Second, "start", "web"); code != 1 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("start of a deleted app: exit %d, want 1 with one line: %s", code, out)
	}
}

func regexpMatch(pattern, s string) bool {
	return regexp.MustCompile(pattern).MatchString(s)
}

// TestStartFailureShowsWorkerOutput: a worker that exits before it is ready
// makes start exit 1 with the reason and the worker's last lines. The
// script runs with bash, by its extension.
func TestStartFailureShowsWorkerOutput(t *testing.T) {
	pm2Home(t)
	script := filepath.Join(t.TempDir(), "broken.sh")
	os.WriteFile(script, []byte("echo starting up\necho 'cannot open the database' >&2\nexit 3\n"), 0o644) // not executable: bash runs it
	code, out := run(t, 60*time.Second, "start", script, "--no-listen")
	if code != 1 {
		t.Fatalf("start of a broken app: exit %d, want 1: %s", code, out)
	}
	for _, want := range []string{"app broken failed to start", "exit code 3", "cannot open the database"} {
		if !strings.Contains(out, want) {
			t.Errorf("start's failure lacks %q:\n%s", want, out)
		}
	}
}

// TestStartOrReload: start of an app that runs reloads it, rolling: the
// master stays, every worker is new.
func TestStartOrReload(t *testing.T) {
	pm2Home(t)
	before := startDemo(t, "web", "-i", "2")
	code, out := run(t, 60*time.Second, "start", bin(t), "--name", "web", "-i", "2", "-l", "127.0.0.1:0", "--", "demo")
	if code != 0 || !strings.Contains(out, "running already, reloaded: web") {
		t.Fatalf("second start: exit %d: %s", code, out)
	}
	after := appStatus(t, "web")
	if after.PID != before.PID || after.Generation != before.Generation+1 {
		t.Errorf("master %d generation %d, then %d generation %d: want the same master, one reload later", before.PID, before.Generation, after.PID, after.Generation)
	}
	for _, pid := range workerPIDs(after) {
		if slices.Contains(workerPIDs(before), pid) {
			t.Errorf("worker %d survived the reload", pid)
		}
	}
	if code, out := run(t, 60*time.Second, "reload", "all"); code != 0 {
		t.Errorf("reload all (pm2 reload all): exit %d: %s", code, out)
	}
}

// TestStartEcosystemJS: a PM2 ecosystem file in JavaScript starts as it is,
// in the background, its app named by the file.
func TestStartEcosystemJS(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: an ecosystem.config.js cannot be evaluated")
	}
	pm2Home(t)
	path := filepath.Join(t.TempDir(), "ecosystem.config.js")
	os.WriteFile(path, []byte(fmt.Sprintf(`module.exports = {
  apps: [{ name: "shop", script: %q, args: "demo", instances: 2 }],
};
`, bin(t))), 0o644)
	code, out := run(t, 60*time.Second, "start", path, "-l", "127.0.0.1:0")
	if code != 0 || strings.Count(out, "shop ") != 2 {
		t.Fatalf("start %s: exit %d:\n%s", path, code, out)
	}
	serves(t, appStatus(t, "shop").Listeners[0])
}

// TestSaveKillResurrect: save, kill, resurrect brings the same apps back,
// on the same addresses (ports the kernel chose), a config file's app too.
func TestSaveKillResurrect(t *testing.T) {
	pm2Home(t)
	web := startDemo(t, "web")
	path := writeConfig(t, t.TempDir(), `
apps:
  - name: api
    cmd: [%[1]q, demo]
    instances: 2
    listen: 127.0.0.1:0
    wait_ready: true
`)
	if code, out := run(t, 60*time.Second, "start", path); code != 0 {
		t.Fatalf("start %s: exit %d: %s", path, code, out)
	}
	api := appStatus(t, "api")
	if code, out := run(t, 30*time.Second, "save"); code != 0 || !strings.Contains(out, "saved 2 apps") {
		t.Fatalf("save: exit %d: %s", code, out)
	}
	if code, out := run(t, 60*time.Second, "kill"); code != 0 || strings.TrimSpace(out) != "stopped 2 apps" {
		t.Fatalf("kill: exit %d: %s", code, out)
	}
	for _, pid := range []int{web.PID, api.PID} {
		waitFor(t, 10*time.Second, "the master to exit", func() error {
			if alive(pid) {
				return fmt.Errorf("master %d runs", pid)
			}
			return nil
		})
	}
	code, out := run(t, 60*time.Second, "resurrect")
	if code != 0 {
		t.Fatalf("resurrect: exit %d: %s", code, out)
	}
	for _, was := range []*control.Status{web, api} {
		now := appStatus(t, was.Name)
		if !slices.Equal(now.Listeners, was.Listeners) || now.Instances != was.Instances {
			t.Errorf("app %s came back on %v with %d instances, want %v with %d", was.Name, now.Listeners, now.Instances, was.Listeners, was.Instances)
		}
		serves(t, now.Listeners[0])
	}
}

// TestDescribeEnvSignalFlushRestart: the verbs that look at and act on
// one app's workers.
func TestDescribeEnvSignalFlushRestart(t *testing.T) {
	pm2Home(t)
	logFile := filepath.Join(t.TempDir(), "web.log")
	st := startDemo(t, "web", "-i", "2", "--log", logFile)

	code, out := run(t, 30*time.Second, "describe", "web")
	for _, want := range []string{"status:        running", "log files:     " + logFile, fmt.Sprintf("master pid:    %d", st.PID), "started by:    clusterd start "} {
		if !strings.Contains(out, want) {
			t.Errorf("describe (exit %d) lacks %q:\n%s", code, want, out)
		}
	}

	pid1, _ := st.WorkerPID(1)
	code, out = run(t, 30*time.Second, "env", "web", "1")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("LISTEN_PID=%d\n", pid1)) {
		t.Errorf("env web 1 (worker %d): exit %d:\n%s", pid1, code, out)
	}

	os.WriteFile(logFile, []byte("old lines\n"), 0o644)
	if code, out := run(t, 30*time.Second, "flush", "web"); code != 0 || strings.TrimSpace(out) != "flushed 1 log files" {
		t.Errorf("flush: exit %d: %s", code, out)
	}
	if fi, err := os.Stat(logFile); err != nil || fi.Size() != 0 {
		t.Errorf("log file after flush: %v, %v bytes", err, fi.Size())
	}

	pid0, _ := st.WorkerPID(0)
	if code, out := run(t, 30*time.Second, "signal", "SIGKILL", "web", "--slot", "0"); code != 0 || strings.TrimSpace(out) != "sent SIGKILL to 1 workers of web" {
		t.Fatalf("signal: exit %d: %s", code, out)
	}
	waitFor(t, 20*time.Second, "slot 0 to have a new ready worker", func() error {
		now, err := appClient(t, "web").Status()
		if err != nil {
			return err
		}
		if p, _ := now.WorkerPID(0); p == pid0 || !daemon.AllReady(now) {
			return fmt.Errorf("slot 0 still %d", p)
		}
		if p, _ := now.WorkerPID(1); p != pid1 {
			t.Fatalf("slot 1's worker changed too (%d, was %d)", p, pid1)
		}
		return nil
	})

	before := appStatus(t, "web")
	if code, out := run(t, 60*time.Second, "restart", "all"); code != 0 || strings.TrimSpace(out) != "restarted web (rolling, ready-gated)" {
		t.Fatalf("restart all: exit %d: %s", code, out)
	}
	after := appStatus(t, "web")
	if after.PID != before.PID || slices.ContainsFunc(workerPIDs(after), func(p int) bool { return slices.Contains(workerPIDs(before), p) }) {
		t.Errorf("restart: master %d workers %v, then %d %v: want the same master, new workers", before.PID, workerPIDs(before), after.PID, workerPIDs(after))
	}
	if code, out := run(t, 60*time.Second, "stop", "all"); code != 0 || strings.TrimSpace(out) != "stopped 1 apps" {
		t.Fatalf("stop all: exit %d: %s", code, out)
	}
}

// TestStartupResurrectUnit: startup without a command line makes the unit
// that runs the saved apps at boot, which systemd-analyze accepts;
// unstartup removes what --install wrote.
func TestStartupResurrectUnit(t *testing.T) {
	state := pm2Home(t)
	startDemo(t, "web")
	if code, out := run(t, 30*time.Second, "save"); code != 0 {
		t.Fatalf("save: exit %d: %s", code, out)
	}
	code, unit := run(t, 30*time.Second, "startup")
	if code != 0 {
		t.Fatalf("startup: exit %d: %s", code, unit)
	}
	for _, want := range []string{"ExecStart=" + bin(t) + " resurrect --no-daemon", "Environment=CLUSTERD_HOME=" + state, "Type=notify", "ExecReload=" + bin(t) + " reload --all --pid $MAINPID"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	unitDir := t.TempDir()
	if code, out := run(t, 30*time.Second, "startup", "--install", "--unit-dir="+unitDir); code != 0 {
		t.Fatalf("startup --install: exit %d: %s", code, out)
	}
	units, _ := filepath.Glob(filepath.Join(unitDir, "clusterd-*.service"))
	if len(units) != 1 {
		t.Fatalf("startup --install wrote %v", units)
	}
	if code, out := run(t, 30*time.Second, "unstartup", "--unit-dir", unitDir); code != 0 {
		t.Fatalf("unstartup: exit %d: %s", code, out)
	}
	if _, err := os.Stat(units[0]); !os.IsNotExist(err) {
		t.Errorf("unstartup left %s", units[0])
	}
	verifyUnit(t, filepath.Base(units[0]), unit)
}

// TestNamespaceVerbs: PM2's namespace groups apps for the verbs: reload and
// stop of the namespace's name reach its apps and no other.
func TestNamespaceVerbs(t *testing.T) {
	pm2Home(t)
	file := filepath.Join(t.TempDir(), "apps.yml")
	app := func(name, extra string) string {
		return fmt.Sprintf("  - {name: %s, cmd: [%q, demo], listen: \"127.0.0.1:0\", wait_ready: true%s}\n", name, bin(t), extra)
	}
	os.WriteFile(file, []byte("apps:\n"+app("ns-a", ", namespace: api")+app("ns-b", ", namespace: api")+app("ns-c", "")), 0o644)
	if code, out := run(t, 60*time.Second, "start", file); code != 0 {
		t.Fatalf("start: exit %d: %s", code, out)
	}
	if code, out := run(t, 60*time.Second, "reload", "api"); code != 0 || !strings.Contains(out, "reloaded ns-a") || !strings.Contains(out, "reloaded ns-b") {
		t.Fatalf("reload api: exit %d: %s", code, out)
	}
	for name, want := range map[string]int{"ns-a": 2, "ns-b": 2, "ns-c": 1} {
		if st := appStatus(t, name); st.Generation != want || (name != "ns-c") != (st.Namespace == "api") {
			t.Errorf("%s after reload api: generation %d (want %d), namespace %q", name, st.Generation, want, st.Namespace)
		}
	}
	// ls has pm2 ls's namespace column: each worker's row names it.
	code, out := run(t, 30*time.Second, "ls")
	if code != 0 || !regexpMatch(`(?m)^APP\s+NAMESPACE\s+SLOT\s+PID\s`, out) ||
		!regexpMatch(`(?m)^ns-a\s+api\s+0\s+\d+\s`, out) || !regexpMatch(`(?m)^ns-b\s+api\s+0\s+\d+\s`, out) ||
		!regexpMatch(`(?m)^ns-c\s+-\s+0\s+\d+\s`, out) {
		t.Errorf("ls: exit %d, want a namespace column (api, api, -):\n%s", code, out)
	}
	if code, out := run(t, 60*time.Second, "stop", "api"); code != 0 {
		t.Fatalf("stop api: exit %d: %s", code, out)
	}
	if _, err := appClient(t, "ns-a").Status(); err == nil {
		t.Errorf("ns-a still answers after stop api")
	}
	appStatus(t, "ns-c") // runs on
}

// TestVerbsFindOwnControlSocket: a master given its own --control path,
// outside the per-user directory, leaves a link there named after the app,
// so ls lists it and stop all and kill reach it; the link goes when the
// master stops.
func TestVerbsFindOwnControlSocket(t *testing.T) {
	pm2Home(t)
	runtimeDir := os.Getenv("XDG_RUNTIME_DIR")
	start := func(name string) (*cluster, string) {
		c := startCluster(t, clusterOptions{
			args:       []string{"--name", name, "-i", "1", "--wait-ready"},
			command:    demoCommand(t),
			waitReady:  true,
			runtimeDir: runtimeDir,
		})
		link, err := control.DefaultPath(name)
		if err != nil {
			t.Fatal(err)
		}
		if to, err := os.Readlink(link); err != nil || to != c.control {
			t.Fatalf("%s: link to %q (%v), want one to the master's own socket %s", link, to, err, c.control)
		}
		return c, link
	}
	stopped := func(c *cluster, link, by string) {
		t.Helper()
		waitFor(t, 30*time.Second, "the master to exit after "+by, func() error {
			select {
			case <-c.exited:
			default:
				return errNotYet
			}
			if _, err := os.Lstat(link); err == nil {
				return fmt.Errorf("%s is still there after the master exited", link)
			}
			return nil
		})
	}

	c, link := start("solo")
	code, out := run(t, 30*time.Second, "ls")
	if code != 0 || !regexpMatch(`(?m)^solo\s+-\s+0\s+\d+\s+\S+\s+0\s+ready\s`, out) {
		t.Fatalf("ls: exit %d, want solo's worker listed, ready:\n%s", code, out)
	}
	if code, out := run(t, 30*time.Second, "describe", "solo"); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("describe solo: exit %d:\n%s", code, out)
	}
	if code, out := run(t, 60*time.Second, "stop", "all"); code != 0 {
		t.Fatalf("stop all: exit %d: %s", code, out)
	}
	stopped(c, link, "stop all")

	c, link = start("solo2")
	if code, out := run(t, 60*time.Second, "kill"); code != 0 || !strings.Contains(out, "stopped 1 apps") {
		t.Fatalf("kill: exit %d, want it to stop solo2: %s", code, out)
	}
	stopped(c, link, "kill")
}
