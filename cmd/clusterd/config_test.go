package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/clusterd/clusterd/appconfig"
	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/internal/proctest"
)

// writeConfig writes a config file into dir; %[1]q in text is this test
// binary (which is clusterd, and so `clusterd demo`).
func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "apps.yml")
	if strings.Contains(text, "%[1]") {
		text = fmt.Sprintf(text, bin(t))
	}
	if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// Renamed into place, as an editor or a deploy does: a reload never
	// reads half a file.
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// getEnv asks a demo worker behind addr for one variable of its environment.
func getEnv(t *testing.T, addr, name string) string {
	t.Helper()
	// A new connection each time: a kept-alive one would stay with a
	// worker that a reload since retired, draining.
	return getBody(t, "http://"+addr+"/env?name="+name, http.StatusOK)
}

const envApp = `
apps:
  - name: web
    cmd: [%[1]q, demo]
    instances: 2
    listen: 127.0.0.1:0
    wait_ready: true
    listen_timeout: 10s
    env:
      GREETING: hello from env
      SHARED: from env
    env_production:
      GREETING: hello from env_production
`

// TestConfigEnvProfile: --env production merges env_production over env,
// as PM2 does; without it the workers get env alone.
func TestConfigEnvProfile(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, envApp)
	for _, c := range []struct {
		args           []string
		greeting, want string
	}{
		{nil, "hello from env", "from env"},
		{[]string{"--env", "production"}, "hello from env_production", "from env"},
	} {
		t.Run(strings.Join(append([]string{"env"}, c.args...), " "), func(t *testing.T) {
			cl := startCluster(t, clusterOptions{config: path, app: "web", runtimeDir: t.TempDir(), args: c.args, waitReady: true})
			if got := getEnv(t, cl.addr(), "GREETING"); got != c.greeting {
				t.Errorf("GREETING is %q, want %q", got, c.greeting)
			}
			if got := getEnv(t, cl.addr(), "SHARED"); got != c.want {
				t.Errorf("SHARED is %q, want %q", got, c.want)
			}
			if st := cl.status(); st.Name != "web" || st.Instances != 2 {
				t.Errorf("status: app %q with %d instances, want web with 2", st.Name, st.Instances)
			}
		})
	}
	// A profile no app has is a typo, not an empty environment.
	code, out := run(t, 10*time.Second, "start", path, "--env", "prodution")
	if code != exitUsage && code != exitFailure || !strings.Contains(out, "no app has env_prodution") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
		t.Errorf("--env prodution: exit %d, %q: want one line naming the missing profile", code, out)
	}
}

// TestConfigReloadBrokenFileKeepsWorkers: a reload re-reads the file. A
// file that no longer reads aborts the reload with the line and the field
// named, and the old workers keep serving under load; once the file is
// mended, the next reload installs its new environment and instance count,
// all without a failed request.
func TestConfigReloadBrokenFileKeepsWorkers(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, envApp)
	runtimeDir := t.TempDir()
	cl := startCluster(t, clusterOptions{config: path, app: "web", runtimeDir: runtimeDir, args: []string{"--env", "production"}, waitReady: true})
	before := cl.waitAllReady()
	l := startLoad(t, cl.addr(), true)
	l.waitAnswered(t, 500)

	writeConfig(t, dir, strings.Replace(envApp, "listen_timeout: "+`10s`, "listen_timeout: soon", 1))
	code, out := runIn(t, runtimeDir, "reload", "web")
	want := `apps.yml:8: app "web": listen_timeout: want a duration like 1600ms or 5s`
	if code != exitFailure || !strings.Contains(out, want) || strings.Count(strings.TrimSpace(out), "\n") > 0 {
		t.Errorf("reload of a broken file: exit %d, %q: want exit 1 and one line with %q", code, out, want)
	}
	// SIGHUP reads the file too, and fails the same way.
	writeConfig(t, dir, strings.Replace(envApp, "instances: 2", "instances: [2", 1))
	if outcome := cl.reloadBySignal(); outcome.Outcome != "aborted" || !strings.Contains(outcome.Reason, "apps.yml:") {
		t.Errorf("SIGHUP with unparsable YAML: %+v, want aborted naming the file and line", outcome)
	}
	l.waitAnswered(t, 500)
	if after := cl.waitAllReady(); !slices.Equal(after, before) {
		t.Errorf("workers %v after the broken reloads, want the old ones %v serving", after, before)
	}
	if got := getEnv(t, cl.addr(), "GREETING"); got != "hello from env_production" {
		t.Errorf("GREETING %q after the broken reloads: the old workers' environment changed", got)
	}

	// Mended, with a new value and one more instance.
	writeConfig(t, dir, strings.NewReplacer("hello from env_production", "hello again", "instances: 2", "instances: 3").Replace(envApp))
	if code, out := runIn(t, runtimeDir, "reload", "web"); code != 0 {
		t.Fatalf("reload of the mended file: exit %d: %s", code, out)
	}
	waitFor(t, 30*time.Second, "three ready workers", func() error {
		if pids, err := cl.readyPIDs(); err != nil || len(pids) != 3 {
			return errNotYet
		}
		return nil
	})
	for _, pid := range cl.waitAllReady() {
		if slices.Contains(before, pid) {
			t.Errorf("worker %d of the old release is still a slot's worker", pid)
		}
	}
	l.waitAnswered(t, 500)
	l.finish(t)
	if got := getEnv(t, cl.addr(), "GREETING"); got != "hello again" {
		t.Errorf("GREETING %q after the reload, want the file's new value", got)
	}
	// A scale lasts through a reload that leaves the file's count alone.
	if code, out := runIn(t, runtimeDir, "scale", "web", "4"); code != 0 {
		t.Fatalf("scale web 4: exit %d: %s", code, out)
	}
	if code, out := runIn(t, runtimeDir, "reload", "web"); code != 0 {
		t.Fatalf("reload after scale: exit %d: %s", code, out)
	}
	if n := cl.status().Instances; n != 4 {
		t.Errorf("%d instances after a reload of an unchanged file, want the 4 that scale set", n)
	}
}

// runIn runs a clusterd subcommand that finds its master's control socket
// under runtimeDir, as a user's shell with XDG_RUNTIME_DIR would.
func runIn(t *testing.T, runtimeDir string, args ...string) (int, string) {
	t.Helper()
	t.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	return run(t, 60*time.Second, args...)
}

const twoApps = `
apps:
  - name: web
    cmd: [%[1]q, demo]
    instances: 2
    listen: 127.0.0.1:0
    wait_ready: true
    env: {APP: web}
  - name: api
    cmd: '%[1]s demo'
    listen: [127.0.0.1:0]
    wait_ready: true
    env: {APP: api}
`

// TestConfigSeveralApps: the apps of one file run under one master
// process, each with its own sockets and workers; status, reload and stop
// take an app's name and touch that app only; SIGTERM stops them all.
func TestConfigSeveralApps(t *testing.T) {
	dir, runtimeDir := t.TempDir(), t.TempDir()
	path := writeConfig(t, dir, twoApps)
	web := startCluster(t, clusterOptions{config: path, app: "web", runtimeDir: runtimeDir, waitReady: true,
		args: []string{"--metrics", "127.0.0.1:0"}})
	api := appCluster(t, runtimeDir, "api", 1)
	webStatus, apiStatus := web.status(), api.status()
	// One metrics endpoint for the process, each app's figures labelled.
	if webStatus.Metrics == "" || webStatus.Metrics != apiStatus.Metrics {
		t.Errorf("metrics at %q and %q, want one shared endpoint", webStatus.Metrics, apiStatus.Metrics)
	}
	families := scrape(t, "http://"+webStatus.Metrics+"/metrics")
	if web, api := counter(families, "clusterd_instances", "app", "web"), counter(families, "clusterd_instances", "app", "api"); web != 2 || api != 1 {
		t.Errorf("clusterd_instances: web %v, api %v; want 2 and 1", web, api)
	}
	if body := getBody(t, "http://"+webStatus.Metrics+"/readyz", http.StatusOK); !strings.Contains(body, "web 2") || !strings.Contains(body, "api 1") {
		t.Errorf("/readyz says %q, want each app's ready workers", body)
	}
	if webStatus.PID != apiStatus.PID || webStatus.PID != web.cmd.Process.Pid {
		t.Errorf("master pids %d and %d, want both apps in the one process %d", webStatus.PID, apiStatus.PID, web.cmd.Process.Pid)
	}
	if webStatus.Listeners[0] == apiStatus.Listeners[0] {
		t.Errorf("both apps listen on %s", webStatus.Listeners[0])
	}
	if got := getEnv(t, web.addr(), "APP"); got != "web" {
		t.Errorf("web's workers have APP=%q", got)
	}
	if got := getEnv(t, api.addr(), "APP"); got != "api" {
		t.Errorf("api's workers have APP=%q", got)
	}

	// status with no app shows every app, as pm2 ls does.
	code, out := runIn(t, runtimeDir, "status")
	if code != 0 || !strings.Contains(out, "web: master pid") || !strings.Contains(out, "api: master pid") {
		t.Errorf("status with no app: exit %d:\n%s", code, out)
	}
	// A reload of api replaces api's worker and leaves web's alone.
	webBefore, apiBefore := web.waitAllReady(), api.waitAllReady()
	l := startLoad(t, web.addr(), true)
	l.waitAnswered(t, 300)
	if code, out := runIn(t, runtimeDir, "reload", "api"); code != 0 {
		t.Fatalf("reload api: exit %d: %s", code, out)
	}
	if after := api.waitAllReady(); slices.Equal(after, apiBefore) {
		t.Errorf("reload api kept its worker %v", after)
	}
	if after := web.waitAllReady(); !slices.Equal(after, webBefore) {
		t.Errorf("reload api changed web's workers from %v to %v", webBefore, after)
	}
	// Stopping api leaves web serving.
	if code, out := runIn(t, runtimeDir, "stop", "api"); code != 0 {
		t.Fatalf("stop api: exit %d: %s", code, out)
	}
	for _, pid := range apiBefore {
		waitFor(t, 10*time.Second, "api's old worker to exit", func() error {
			if alive(pid) {
				return errNotYet
			}
			return nil
		})
	}
	l.waitAnswered(t, 300)
	l.finish(t)
	if after := web.waitAllReady(); !slices.Equal(after, webBefore) {
		t.Errorf("stop api changed web's workers from %v to %v", webBefore, after)
	}
	// reload --all --pid (a systemd unit's ExecReload) reloads what runs
	// of that process, though one of its apps was stopped by hand.
	pid := strconv.Itoa(web.cmd.Process.Pid)
	if code, out := runIn(t, runtimeDir, "reload", "--all", "--pid", pid); code != 0 || !strings.Contains(out, "reload of every app of master "+pid+" succeeded") {
		t.Fatalf("reload --all --pid %s: exit %d: %s", pid, code, out)
	}
	if after := web.waitAllReady(); slices.Equal(after, webBefore) {
		t.Errorf("reload --all kept web's workers %v", after)
	}
	// ... and starts the app stopped by hand again, as pm2 startOrReload does.
	appCluster(t, runtimeDir, "api", 1)
	if code, out := runIn(t, runtimeDir, "reload", "--all", "--pid", "1"); code != 1 || !strings.Contains(out, "no clusterd master with pid 1") {
		t.Errorf("reload --all --pid 1: exit %d: %s", code, out)
	}
	// SIGTERM stops what is left, and the master exits 0.
	web.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-web.exited:
		if web.exitErr != nil {
			t.Errorf("master exited with %v after SIGTERM", web.exitErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the master did not exit within 20s of SIGTERM")
	}
}

// TestConfigBadFileAtStart: a bad file stops clusterd before anything
// starts, with one line naming the file, line and field.
func TestConfigBadFileAtStart(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // the control sockets of apps that did start
	for _, c := range []struct{ name, text, want string }{
		{"bad value", "apps:\n  - name: web\n    cmd: [%[1]q, demo]\n    kill_timeout: soon\n", `apps.yml:4: app "web": kill_timeout: want a duration like 1600ms or 5s`},
		{"flag for one app", "apps:\n  - {name: a, cmd: x}\n  - {name: b, cmd: x}\n", `--pidfile is one app's, and`},
		{"two apps on one address", "apps:\n  - {name: a, cmd: /bin/sleep 9, listen: \"127.0.0.1:PORT\"}\n  - {name: b, cmd: /bin/sleep 9, listen: \"127.0.0.1:PORT\"}\n", `app "b": listen listen0=127.0.0.1:`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, dir, strings.ReplaceAll(c.text, "PORT", strconv.Itoa(freePort(t))))
			args := []string{"-c", path}
			if c.name == "flag for one app" {
				args = append(args, "--pidfile", filepath.Join(dir, "pid"))
			}
			code, out := run(t, 10*time.Second, args...)
			if code == 0 || !strings.Contains(out, c.want) || strings.Count(strings.TrimSpace(out), "\n") > 0 {
				t.Errorf("exit %d, %q: want a failure and one line with %q", code, out, c.want)
			}
		})
	}
	code, out := run(t, 10*time.Second, "-c", filepath.Join(dir, "apps.yml"), "--", "./server")
	if code != exitUsage || !strings.Contains(out, "either a command or --config") {
		t.Errorf("both a file and a command: exit %d, %q", code, out)
	}
}

// TestImportPM2: an ecosystem.config.js, evaluated by node, becomes a
// clusterd file that starts; what clusterd has no use for is named.
func TestImportPM2(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: import-pm2 evaluates ecosystem.config.js with it")
	}
	dir := t.TempDir()
	eco := filepath.Join(dir, "ecosystem.config.js")
	os.WriteFile(eco, []byte(fmt.Sprintf(`
const port = 3000 + 1;
module.exports = {
  apps: [{
    name: "web",
    script: %q,
    args: "demo",
    interpreter: "none",
    instances: 2,
    listen: "127.0.0.1:0",
    wait_ready: true,
    kill_timeout: 3000,
    cron_restart: "0 0 * * *",
    vizion: true,
    made_up_field: 1,
    env: { PORT: port },
    env_production: { NODE_ENV: "production" },
  }],
};
`, bin(t))), 0o644)
	cmd := exec.Command(bin(t), "import-pm2", eco)
	cmd.Env = tagEnv(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	converted, err := cmd.Output()
	if err != nil {
		t.Fatalf("import-pm2: %v: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `left out app "web": made_up_field`) || !strings.Contains(string(converted), "# left out app \"web\": made_up_field") {
		t.Errorf("made_up_field is not named as left out: stderr %q\n%s", stderr.String(), converted)
	}
	if !strings.Contains(stderr.String(), `app "web": vizion: no effect here`) || !strings.Contains(string(converted), "vizion: true") {
		t.Errorf("vizion, a PM2 field without effect, is not kept and named: stderr %q\n%s", stderr.String(), converted)
	}
	if !strings.Contains(string(converted), "cron_restart: 0 0 * * *") {
		t.Errorf("cron_restart, which clusterd reads, is not kept:\n%s", converted)
	}
	path := filepath.Join(dir, "apps.yml")
	os.WriteFile(path, converted, 0o644)
	cl := startCluster(t, clusterOptions{config: path, app: "web", runtimeDir: t.TempDir(), args: []string{"--env", "production"}, waitReady: true})
	if got := getEnv(t, cl.addr(), "PORT"); got != "3001" {
		t.Errorf("PORT is %q, want the value the JavaScript computed, 3001\n%s", got, converted)
	}
	if got := getEnv(t, cl.addr(), "NODE_ENV"); got != "production" {
		t.Errorf("NODE_ENV is %q under --env production", got)
	}
	if st := cl.status(); st.Instances != 2 {
		t.Errorf("%d instances, want 2", st.Instances)
	}
}

// TestExampleConfigReads: the README's example file reads, with both
// profiles.
func TestExampleConfigReads(t *testing.T) {
	for _, profile := range []string{"", "production"} {
		configs, err := appconfig.Read(filepath.Join("..", "..", "examples", "apps.yml"), profile, nil, quietLogger)
		if err != nil {
			t.Fatal(err)
		}
		if len(configs) != 2 || configs[0].Name != "web" || configs[1].Instances != 2 {
			t.Errorf("profile %q: read %d apps: %+v", profile, len(configs), configs)
		}
	}
}

// TestConfigSeveralAppsUpgrade: SIGUSR2 upgrades a master running several
// apps as one: one new process takes every app's very sockets (same
// inodes) and control socket, the old process exits 0 once the new one's
// workers are all ready, and neither app fails a request.
func TestConfigSeveralAppsUpgrade(t *testing.T) {
	dir, runtimeDir := t.TempDir(), t.TempDir()
	path := writeConfig(t, dir, twoApps)
	web := startCluster(t, clusterOptions{config: path, app: "web", runtimeDir: runtimeDir, waitReady: true,
		args: []string{"--metrics", "127.0.0.1:0"}})
	api := appCluster(t, runtimeDir, "api", 1)
	oldPID := web.cmd.Process.Pid
	metricsAddr := web.status().Metrics
	sockets := listeningSockets(t, oldPID)
	if len(sockets) != 3 {
		t.Fatalf("want one listening socket per app and the metrics one, got %v", sockets)
	}
	webLoad, apiLoad := startLoad(t, web.addr(), true), startLoad(t, api.addr(), true)
	webLoad.waitAnswered(t, 300)
	apiLoad.waitAnswered(t, 300)

	if err := web.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-web.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the old master did not exit after SIGUSR2\n%s", web.output)
	}
	if code := web.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("old master exited %d (%v), want 0", code, web.exitErr)
	}
	webStatus, apiStatus := web.status(), api.status()
	if webStatus.PID == oldPID || apiStatus.PID != webStatus.PID {
		t.Fatalf("after the upgrade web is served by %d and api by %d; the old master was %d", webStatus.PID, apiStatus.PID, oldPID)
	}
	if got := listeningSockets(t, webStatus.PID); !slices.Equal(got, sockets) {
		t.Errorf("listening sockets changed across the upgrade: %v -> %v", sockets, got)
	}
	// The metrics socket went across too: the same address answers.
	if webStatus.Metrics != metricsAddr {
		t.Errorf("metrics moved from %s to %s", metricsAddr, webStatus.Metrics)
	}
	getBody(t, "http://"+metricsAddr+"/readyz", http.StatusOK)
	webLoad.waitAnswered(t, 300)
	apiLoad.waitAnswered(t, 300)
	webLoad.finish(t)
	apiLoad.finish(t)
	if n := strings.Count(web.output.String(), "upgrade succeeded"); n != 2 {
		t.Errorf("%d apps logged the upgrade, want 2\n%s", n, web.output)
	}
}

// TestConfigReloadStartsAddedApp: SIGHUP starts an app the file has
// gained, as pm2 startOrReload does, and reloads the running ones.
func TestConfigReloadStartsAddedApp(t *testing.T) {
	dir, runtimeDir := t.TempDir(), t.TempDir()
	path := writeConfig(t, dir, envApp)
	web := startCluster(t, clusterOptions{config: path, app: "web", runtimeDir: runtimeDir, waitReady: true})
	writeConfig(t, dir, twoApps)
	if outcome := web.reloadBySignal(); outcome.Outcome != "succeeded" {
		t.Fatalf("reload: %+v", outcome)
	}
	api := appCluster(t, runtimeDir, "api", 1)
	if st := api.status(); st.PID != web.cmd.Process.Pid {
		t.Errorf("the added app runs in process %d, want the master's %d", st.PID, web.cmd.Process.Pid)
	}
	if got := getEnv(t, api.addr(), "APP"); got != "api" {
		t.Errorf("the added app's workers have APP=%q", got)
	}
}

// appCluster is another app of the master under test, found by its
// control socket under runtimeDir, once it has instances ready workers.
func appCluster(t *testing.T, runtimeDir, app string, instances int) *cluster {
	t.Helper()
	c := &cluster{t: t, client: &control.Client{Path: filepath.Join(runtimeDir, "clusterd", app+".sock"), Timeout: 5 * time.Second}}
	waitFor(t, 20*time.Second, "app "+app+" to be ready", func() error {
		if pids, err := c.readyPIDs(); err != nil || len(pids) != instances {
			return errNotYet
		}
		return nil
	})
	return c
}

// getBody GETs url on a new connection and checks the status code.
func getBody(t *testing.T, url string, want int) string {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Errorf("GET %s: %d %q, want %d", url, resp.StatusCode, body, want)
	}
	return strings.TrimSpace(string(body))
}

// TestConfigLogsOfEveryApp: clusterd logs with no app shows every app's
// lines, each naming its app, and --follow streams them all, as pm2 logs
// does.
func TestConfigLogsOfEveryApp(t *testing.T) {
	dir, runtimeDir := t.TempDir(), t.TempDir()
	path := writeConfig(t, dir, `
apps:
  - name: ticker
    cmd: [sh, -c, 'echo "ticker starts"; i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.05; done']
    listen: 127.0.0.1:0
    min_uptime: 100ms
  - name: talker
    cmd: [sh, -c, 'echo "talker starts with $LISTEN_FDS sockets"; exec sleep 600']
    no_listen: true
    min_uptime: 100ms
`)
	startCluster(t, clusterOptions{config: path, app: "ticker", runtimeDir: runtimeDir, waitReady: true})
	appCluster(t, runtimeDir, "talker", 1)
	waitFor(t, 20*time.Second, "both apps' lines in clusterd logs", func() error {
		code, out := runIn(t, runtimeDir, "logs", "-n", "50")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, out)
		}
		if !strings.Contains(out, "ticker starts") || !strings.Contains(out, "talker starts with 0 sockets") || !strings.Contains(out, "tick 3") {
			return fmt.Errorf("not yet both apps' lines:\n%s", out)
		}
		return nil
	})
	// --follow: new lines keep coming while it runs.
	t.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	follow := exec.Command(bin(t), "logs", "-n", "0", "--follow")
	follow.Env = tagEnv(t)
	out := &proctest.Buffer{}
	follow.Stdout = out
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	waitFor(t, 20*time.Second, "followed lines", func() error {
		if s := out.String(); strings.Count(s, "tick") < 3 || !strings.Contains(s, "ticker") {
			return errNotYet
		}
		return nil
	})
}

// TestCommandLineOverridesFile: a flag on the command line wins over the
// file's field, for every app; the rest comes from the file.
func TestCommandLineOverridesFile(t *testing.T) {
	fs := pflag.NewFlagSet("clusterd", pflag.ContinueOnError)
	appconfig.NewFlags(fs)
	if err := fs.Parse([]string{"-i", "3", "--kill-timeout", "7s", "--watch-ignore", "tmp"}); err != nil {
		t.Fatal(err)
	}
	configs, err := appconfig.Read(filepath.Join("..", "..", "examples", "apps.yml"), "", appconfig.ReadCommandLine(fs), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range configs {
		if cfg.Instances != 3 || cfg.KillTimeout != 7*time.Second || !slices.Equal(cfg.WatchIgnore, []string{"tmp"}) || !cfg.WaitReady {
			t.Errorf("app %s: instances %d, kill timeout %s, watch-ignore %q, wait-ready %v; want 3, 7s, [tmp] from the command line and wait_ready from the file",
				cfg.Name, cfg.Instances, cfg.KillTimeout, cfg.WatchIgnore, cfg.WaitReady)
		}
	}
}

// TestConfigPM2NodeApp: a Node app written for PM2, named by script: in a
// config file as in an ecosystem file, runs unchanged (node runs it, with
// node_compat) and reloads under load without a failed request.
func TestConfigPM2NodeApp(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the Node app test needs it")
	}
	app, _ := filepath.Abs("testdata/pm2_unchanged.js")
	path := writeConfig(t, t.TempDir(), fmt.Sprintf(`
apps:
  - name: api
    script: %q
    instances: 2
    listen: 127.0.0.1:0
    wait_ready: true
    listen_timeout: 10s
`, app))
	c := startCluster(t, clusterOptions{config: path, app: "api", runtimeDir: t.TempDir(), waitReady: true})
	c.waitLogged(`by="READY=1"`, 2)
	l := startLoad(t, c.addr(), true)
	l.waitAnswered(t, 300)
	if out := c.reloadBySignal(); out.Outcome != "succeeded" {
		t.Fatalf("reload: %s", out.Reason)
	}
	l.waitAnswered(t, 300)
	l.finish(t)
}
