package appfile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func settingsOf(a App) map[string][]string {
	m := map[string][]string{}
	for _, s := range a.Settings {
		m[s.Flag] = s.Values
	}
	return m
}

// checkWarnings holds each warning to one line that names its field.
func checkWarnings(t *testing.T, apps []App) map[string]string {
	t.Helper()
	byField := map[string]string{}
	for _, app := range apps {
		for _, w := range app.Warnings {
			line := w.String()
			if strings.ContainsAny(line, "\r\n") || w.Field == "" || !strings.Contains(line, w.Field+": ") || w.Line < 1 {
				t.Errorf("warning %q: want one line naming its field and line", line)
			}
			if _, twice := byField[app.Name+"/"+w.Field]; twice {
				t.Errorf("app %q: field %s warned of twice", app.Name, w.Field)
			}
			byField[app.Name+"/"+w.Field] = line
			byField[w.Field] = line
		}
	}
	return byField
}

// Every field of PM2's schema is accepted: it takes effect, or one warning
// says why not. PM2's spellings (camelCase, aliases) read as its names.
func TestPM2Fields(t *testing.T) {
	t.Setenv("LOGROOT", "/var/log/shop")
	home, _ := os.UserHomeDir()
	apps, err := Parse([]byte(`
version: 2
deploy:
  production: {user: node}
apps:
  - name: api
    script: server.js
    execMode: cluster
    maxMemoryRestart: 300M
    instances: 4
    namespace: shop
    instance_var: INSTANCE_ID
    increment_var: PORT
    env: {PORT: 3000}
    log_date_format: "YYYY-MM-DD HH:mm Z"
    log_type: json
    exp_backoff_restart_delay: 100
    min_uptime: 5s
    listen_timeout: 8000
    pid: ~/run/api.pid
    output: $LOGROOT/api.out.log
    err: $LOGROOT/api.err.log
    combine_logs: true
    cron_restart: "0 3 * * *"
    watch: [src]
    watch_options: {usePolling: true, interval: 500, followSymlinks: false, depth: 2, awaitWriteFinish: {stabilityThreshold: 300, pollInterval: 50}, ignored: ["*.tmp"], atomic: true}
    vizion: true
    source_map_support: true
    treekill: true
    kill_retry_time: 100
    port: 4000
  - name: jobs
    cmd: ./jobs
    time: true
    disable_logs: true
    autorestart: false
`), "/srv/shop/apps.yml", "")
	if err != nil {
		t.Fatal(err)
	}
	api, jobs := apps[0], apps[1]
	for flag, want := range map[string][]string{
		"max-memory-restart":        {"300M"},
		"log-time-format":           {"2006-01-02 15:04 -07:00"},
		"log-json":                  {"true"},
		"exp-backoff-restart-delay": {"100"},
		"min-uptime":                {"5s"},
		"listen-timeout":            {"8000"},
		"pidfile":                   {home + "/run/api.pid"},
		"out-file":                  {"/var/log/shop/api.out.log"},
		"error-file":                {"/var/log/shop/api.err.log"},
		"watch-ignore":              {"*.tmp"},
		// watch_options become the watcher's flags.
		"watch-poll":               {"true"},
		"watch-poll-interval":      {"500ms"},
		"watch-no-follow-symlinks": {"true"},
		"watch-depth":              {"2"},
		"watch-await-write":        {"300ms"},
	} {
		if got := settingsOf(api)[flag]; !slices.Equal(got, want) {
			t.Errorf("api --%s = %q, want %q", flag, got, want)
		}
	}
	if api.Namespace != "shop" || api.InstanceVar != "INSTANCE_ID" || api.IncrementVar != "PORT" || api.ExpBackoffRestartDelay != 100*time.Millisecond {
		t.Errorf("api namespace %q, instance_var %q, increment_var %q, backoff %v", api.Namespace, api.InstanceVar, api.IncrementVar, api.ExpBackoffRestartDelay)
	}
	if api.CronRestart == nil || api.CronRestart.Pattern != "0 3 * * *" {
		t.Errorf("cron_restart %+v", api.CronRestart)
	}
	if o := api.WatchOptions; o == nil || !o.UsePolling || o.Interval != 500*time.Millisecond || o.FollowSymlinks == nil || *o.FollowSymlinks ||
		o.Depth == nil || *o.Depth != 2 || o.AwaitWriteFinish != 300*time.Millisecond {
		t.Errorf("watch_options %+v", o)
	}
	if want := []string{"PORT=4000"}; !slices.Equal(api.Env, want) {
		t.Errorf("api env %q, want port over env's PORT, as PM2 does: %q", api.Env, want)
	}
	if want := []string{home + "/run", "/var/log/shop"}; !slices.Equal(api.LogDirs, want) {
		t.Errorf("log dirs %q, want %q", api.LogDirs, want)
	}
	if got := settingsOf(jobs); !slices.Equal(got["log-time-format"], []string{"2006-01-02T15:04:05"}) || !slices.Equal(got["out-file"], []string{os.DevNull}) || !jobs.DisableLogs {
		t.Errorf("jobs: time: true and disable_logs: %q, disable %v", got, jobs.DisableLogs)
	}
	warned := checkWarnings(t, apps)
	for _, field := range []string{"version", "vizion", "source_map_support", "kill_retry_time", "watch_options"} {
		if _, ok := warned[field]; !ok {
			t.Errorf("no warning for %s", field)
		}
	}
	if !strings.Contains(warned["watch_options"], "atomic: no effect here") {
		t.Errorf("watch_options warning %q, want it to name atomic, the option that does not map", warned["watch_options"])
	}
	for _, quiet := range []string{"treekill", "combine_logs", "deploy"} {
		if w, ok := warned[quiet]; ok {
			t.Errorf("warned of %s, which asks for what clusterd does: %s", quiet, w)
		}
	}
}

// PM2 reads a file of one app, or a list, without apps:.
func TestPM2WithoutApps(t *testing.T) {
	for _, file := range []string{
		`{"name": "one", "script": "server.js", "instances": 2}`,
		`[{"name": "one", "script": "server.js"}]`,
		"apps:\n  name: one\n  script: server.js\n",
		"pm2:\n  - name: one\n    script: server.js\n",
	} {
		apps, err := Parse([]byte(file), "apps.json", "")
		if err != nil || len(apps) != 1 || apps[0].Name != "one" {
			t.Errorf("%s: %v, %+v", file, err, apps)
		}
	}
}

// A script is found as PM2 finds it: a file of the app's directory, else a
// program in PATH; one with spaces is a shell command line.
func TestPM2Script(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "server"), []byte("#!/bin/sh\n"), 0o755)
	apps, err := Parse([]byte(`
apps:
  - {name: a, script: npm, args: start}
  - {name: b, script: server}
  - {name: c, script: "python3 -m http.server 8000", args: ignored}
  - {name: d, script: no-such-program-here}
  - {name: e, script: app.py}
`), filepath.Join(dir, "apps.yml"), "")
	if err != nil {
		t.Fatal(err)
	}
	shell := shellProgram()
	for i, want := range [][]string{
		{"npm", "start"},
		{"./server"},
		{shell, "-c", "python3 -m http.server 8000"},
		{"./no-such-program-here"},
		{"python3", "app.py"},
	} {
		if !slices.Equal(apps[i].Command, want) {
			t.Errorf("app %s: command %q, want %q", apps[i].Name, apps[i].Command, want)
		}
	}
	if warned := checkWarnings(t, apps); !strings.Contains(warned["args"], "PM2 drops args") {
		t.Errorf("args of a shell command line: warning %q", warned["args"])
	}
	if !slices.Contains(apps[4].Env, "PYTHONUNBUFFERED=1") {
		t.Errorf("python app env %q: want PYTHONUNBUFFERED=1, as PM2 gives", apps[4].Env)
	}
}

func TestWorkerEnv(t *testing.T) {
	app := App{Name: "api", IncrementVar: "PORT", Env: []string{"PORT=3000"}}
	want := []string{"NODE_APP_INSTANCE=2", "pm_id=2", "name=api", "namespace=default", "exec_mode=cluster_mode", "instances=4", "PORT=3002"}
	if got := app.WorkerEnv(2, 4); !slices.Equal(got, want) {
		t.Errorf("WorkerEnv %q, want %q", got, want)
	}
	app.InstanceVar = "INSTANCE_ID"
	if got := app.WorkerEnv(0, 1); got[0] != "INSTANCE_ID=0" {
		t.Errorf("with instance_var: %q", got)
	}
}

// Each spelling PM2 reads (schema aliases, camelCase) is its field's.
func TestPM2Spellings(t *testing.T) {
	for written, want := range map[string]string{
		"execMode": "exec_mode", "maxMemoryRestart": "max_memory_restart", "interpreterArgs": "node_args",
		"out": "out_file", "err_log": "error_file", "pid": "pid_file", "cron": "cron_restart",
		"combine_logs": "merge_logs", "nodeArgs": "node_args", "killTimeout": "kill_timeout", "instanceVar": "instance_var",
		"windowsHide": "windowsHide", "user": "uid", "health_check": "health_check",
	} {
		if got := pm2Name(written); got != want {
			t.Errorf("%s reads as %s, want %s", written, got, want)
		}
	}
}
