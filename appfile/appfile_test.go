package appfile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const ecosystem = `
apps:
  - name: api
    script: server.js
    instances: max
    args: --port 3000 "--title=my api"
    exec_mode: cluster
    env:
      NODE_ENV: development
      WORKERS: 4
    env_production:
      NODE_ENV: production
    kill_timeout: 3000
    ignore_watch: [node_modules, logs]
    autorestart: false
  - cmd: [./bin/worker, --fast]
    listen: [":8080", "admin=127.0.0.1:9090"]
    watch: true
deploy:
  production:
    user: node
`

func TestParseEcosystem(t *testing.T) {
	apps, err := Parse([]byte(ecosystem), "apps.yml", "production")
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 {
		t.Fatalf("got %d apps, want 2", len(apps))
	}
	api, worker := apps[0], apps[1]
	if want := []string{"node", "server.js", "--port", "3000", "--title=my api"}; !slices.Equal(api.Command, want) {
		t.Errorf("api command %q, want %q", api.Command, want)
	}
	if want := []string{"NODE_ENV=production", "WORKERS=4"}; !slices.Equal(api.Env, want) {
		t.Errorf("api env %q, want env_production over env: %q", api.Env, want)
	}
	settings := map[string][]string{}
	for _, s := range api.Settings {
		settings[s.Flag] = s.Values
	}
	for flag, want := range map[string][]string{
		"node-compat":    {"true"}, // a script run by node is a PM2 app
		"instances":      {"max"},
		"kill-timeout":   {"3000"},
		"watch-ignore":   {"node_modules", "logs"},
		"no-autorestart": {"true"},
	} {
		if !slices.Equal(settings[flag], want) {
			t.Errorf("api --%s = %q, want %q", flag, settings[flag], want)
		}
	}
	if worker.Name != "worker" {
		t.Errorf("unnamed app is %q, want it named after its program, as PM2 does", worker.Name)
	}
	if want := []string{"./bin/worker", "--fast"}; !slices.Equal(worker.Command, want) {
		t.Errorf("worker command %q, want %q", worker.Command, want)
	}
	for _, s := range worker.Settings {
		if s.Flag == "node-compat" {
			t.Errorf("a cmd app got --node-compat: only script apps run by node are PM2's")
		}
		if s.Flag == "watch" && !slices.Equal(s.Values, []string{"."}) {
			t.Errorf("watch: true is %q, want the app's directory", s.Values)
		}
	}
}

func TestParseWithoutProfileUsesEnv(t *testing.T) {
	apps, err := Parse([]byte(ecosystem), "apps.yml", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"NODE_ENV=development", "WORKERS=4"}; !slices.Equal(apps[0].Env, want) {
		t.Errorf("env %q, want %q", apps[0].Env, want)
	}
}

func TestParseJSON(t *testing.T) {
	apps, err := Parse([]byte(`{"apps": [{"name": "web", "script": "app.py", "instances": 2}]}`), "apps.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"python3", "app.py"}; !slices.Equal(apps[0].Command, want) {
		t.Errorf("command %q, want %q", apps[0].Command, want)
	}
}

func TestScriptWithoutInterpreterIsAFile(t *testing.T) {
	apps, err := Parse([]byte("apps:\n  - script: server\n"), "apps.yml", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"./server"}; !slices.Equal(apps[0].Command, want) {
		t.Errorf("command %q, want %q: a script is a file, not a name to look up in PATH", apps[0].Command, want)
	}
}

// Every mistake names the file, the line and the field, in one line.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, file, profile, want string
		line                      int
	}{
		{"not YAML", "apps:\n  - name: [x\n", "", "not valid YAML or JSON", 0},
		{"empty", "", "", "the file is empty", 0},
		{"no apps", "apps: []\n", "", "want a list of at least one app", 1},
		{"no command", "apps:\n  - name: a\n    instances: 2\n", "", `app "a": no script or cmd`, 2},
		{"both", "apps:\n  - name: a\n    cmd: x\n    script: y\n", "", `app "a": cmd: give either cmd`, 3},
		{"duplicate", "apps:\n  - name: a\n    cmd: x\n  - name: a\n    cmd: y\n", "", `app "a": name: a second app of that name (the first is on line 2)`, 4},
		{"env not a map", "apps:\n  - name: a\n    cmd: x\n    env: [A=1]\n", "", `app "a": env: want a mapping`, 4},
		{"env nested", "apps:\n  - name: a\n    cmd: x\n    env:\n      A: {b: 1}\n", "", `A: want a single value`, 5},
		{"missing profile", "apps:\n  - name: a\n    cmd: x\n", "production", "--env production: no app has env_production", 0},
		{"bad exec_mode", "apps:\n  - name: a\n    cmd: x\n    exec_mode: thread\n", "", `exec_mode: want cluster or fork`, 4},
		{"bad autorestart", "apps:\n  - name: a\n    cmd: x\n    autorestart: sometimes\n", "", `autorestart: want true or false`, 4},
		{"list for a value", "apps:\n  - name: a\n    cmd: x\n    kill_timeout: {ms: 1}\n", "", `kill_timeout: want a value or a list`, 4},
		{"bad quoting", "apps:\n  - name: a\n    cmd: 'x \"y'\n", "", `cmd: "x \"y"`, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.file), "apps.yml", c.profile)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "apps.yml") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line starting with the file, containing %q", msg, c.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if c.line > 0 && e.Line != c.line {
				t.Errorf("error on line %d, want %d: %s", e.Line, c.line, msg)
			}
		})
	}
}

func TestLoadRefusesJavaScript(t *testing.T) {
	_, err := Load("ecosystem.config.js", "")
	if err == nil || !strings.Contains(err.Error(), "clusterd import-pm2 ecosystem.config.js") {
		t.Errorf("error %v, want a pointer to import-pm2", err)
	}
}

// YAML anchors and merge keys share settings between apps, as in docker
// compose files; an app's own fields win over the merged ones.
func TestParseAnchorsAndMerges(t *testing.T) {
	apps, err := Parse([]byte(`
x-defaults: &defaults
  wait_ready: true
  kill_timeout: 3000
  env: &env
    NODE_ENV: production
    REGION: eu
apps:
  - <<: *defaults
    name: web
    cmd: ./web
    kill_timeout: 9000
  - <<: *defaults
    name: jobs
    cmd: ./jobs
    env:
      <<: *env
      REGION: us
`), "apps.yml", "")
	if err != nil {
		t.Fatal(err)
	}
	flags := func(a App) map[string]string {
		m := map[string]string{}
		for _, s := range a.Settings {
			m[s.Flag] = strings.Join(s.Values, ",")
		}
		return m
	}
	web, jobs := flags(apps[0]), flags(apps[1])
	if web["wait-ready"] != "true" || web["kill-timeout"] != "9000" || jobs["kill-timeout"] != "3000" {
		t.Errorf("web %v, jobs %v: want the defaults merged, web's own kill_timeout winning", web, jobs)
	}
	if want := []string{"NODE_ENV=production", "REGION=eu"}; !slices.Equal(apps[0].Env, want) {
		t.Errorf("web env %q, want %q", apps[0].Env, want)
	}
	if want := []string{"NODE_ENV=production", "REGION=us"}; !slices.Equal(apps[1].Env, want) {
		t.Errorf("jobs env %q, want %q", apps[1].Env, want)
	}
}

// A merge key that refers to the mapping it is in, directly or through
// another anchor, is refused with one line naming the line: it used to
// recurse until the stack overflowed, at start and on every SIGHUP reload.
func TestParseSelfMerge(t *testing.T) {
	for _, c := range []struct {
		name, file string
		line       int
	}{
		{"itself", "apps:\n  - &a\n    name: x\n    cmd: x\n    <<: *a\n", 5},
		{"in env", "apps:\n  - name: x\n    cmd: x\n    env: &e\n      A: 1\n      <<: *e\n", 6},
		{"through another", "x-a: &a\n  k: 1\nx-b: &b\n  <<: *a\napps:\n  - name: x\n    cmd: x\n    env: &e\n      <<: [*b, *e]\n", 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.file), "apps.yml", "")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want an *Error", err)
			}
			if msg := err.Error(); e.Line != c.line || !strings.Contains(msg, "merges the mapping it is in") || strings.Contains(msg, "\n") {
				t.Errorf("error %q on line %d, want one line on line %d saying the merge refers to itself", msg, e.Line, c.line)
			}
		})
	}
}

// Merges of merges multiply (a YAML "billion laughs"): what they expand to
// is bounded, so a small file cannot take the master's memory and time.
func TestParseMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-0: &l0\n  k: v\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "x-%d: &l%d\n  <<: [*l%d, *l%d, *l%d, *l%d]\n  k%d: v\n", i, i, i-1, i-1, i-1, i-1, i)
	}
	b.WriteString("apps:\n  - name: x\n    cmd: x\n    env:\n      <<: *l40\n")
	done := make(chan error, 1)
	go func() { _, err := Parse([]byte(b.String()), "apps.yml", ""); done <- err }()
	select {
	case err := <-done:
		var e *Error
		if !errors.As(err, &e) || e.Line == 0 || !strings.Contains(err.Error(), "expand to more than") {
			t.Errorf("error %v, want one naming the line and saying the merges expand too far", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still expanding merges after 10s")
	}
}
