package appfile

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds the parser any bytes, starting from YAML and JSON files
// with anchors, aliases and merge keys. Whatever the input, Parse returns
// (no panic, no endless recursion), and a refused file is refused with one
// line that starts with the file and names its line whenever the problem
// is at one place in it; a file it accepts gives apps a master can run.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		ecosystem,
		`{"apps": [{"name": "web", "script": "app.py", "instances": 2, "env": {"A": 1}}]}`,
		`{"name": "one", "script": "server.js", "exec_mode": "cluster"}`,
		"{\n  // a comment\n  \"apps\": [{\"name\": \"a\", /* x */ \"script\": \"a.js\",},],\n}\n",
		"apps:\n  - name: a\n    script: python3 app.py\n    log_date_format: YYYY-MM-DD HH:mm Z\n    cron_restart: 0 3 * * *\n    watch_options: {usePolling: true, atomic: true}\n    vizion: true\n",
		"x-d: &d\n  kill_timeout: 3000\n  env: &e\n    A: 1\napps:\n  - <<: *d\n    name: a\n    cmd: ./a\n    env:\n      <<: *e\n      B: 2\n",
		"apps:\n  - &a\n    name: x\n    cmd: x\n    <<: *a\n",
		"x-0: &l0\n  k: v\nx-1: &l1\n  <<: [*l0, *l0]\napps:\n  - name: x\n    cmd: x\n    env:\n      <<: *l1\n",
		"apps:\n  - name: a\n    script: a.js\n    args: [--port, 3000]\n    watch: [src]\n    env_production:\n      NODE_ENV: production\n",
		"apps: [{cmd: [./w, --fast], listen: [':8080']}]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A parse that does not end is a failure too: the master re-reads
		// the file on every reload. The fuzzer has no deadline of its own,
		// and a panic is how it learns which input it was.
		for _, path := range []string{"apps.yml", "apps.json"} { // .json is read as PM2 reads it, comments and all
			stuck := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("Parse still running after 5s on %q", data)) })
			apps, err := Parse(data, path, "")
			stuck.Stop()
			if err != nil {
				checkError(t, err, path, data)
				continue
			}
			checkApps(t, apps)
		}
	})
}

// checkApps holds accepted apps to what a master can run: a unique name,
// a program, settings that name their field, flag and line, and warnings
// of one line each.
func checkApps(t *testing.T, apps []App) {
	t.Helper()
	names := map[string]bool{}
	for _, app := range apps {
		if app.Name == "" || names[app.Name] || len(app.Command) == 0 {
			t.Fatalf("accepted an app with name %q (seen before: %v), command %q", app.Name, names[app.Name], app.Command)
		}
		names[app.Name] = true
		for _, s := range app.Settings {
			if s.Field == "" || s.Flag == "" || s.Line < 1 {
				t.Fatalf("app %q: setting %+v has no field, flag or line", app.Name, s)
			}
		}
		for _, w := range app.Warnings {
			if line := w.String(); strings.ContainsAny(line, "\n\r") || w.Field == "" {
				t.Fatalf("warning %q: want one line naming a field", line)
			}
		}
	}
}

// checkError holds a refusal of data to its promise: an *Error on one
// line, starting with the file and, when it has one, the line, which is
// one of the file's.
func checkError(t *testing.T, err error, path string, data []byte) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %q is not an *Error", err, err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("error is not one line: %q", msg)
	}
	if lines := lineCount(data); e.Line < 0 || e.Line > lines {
		t.Fatalf("error on line %d of a file of %d lines: %q", e.Line, lines, msg)
	}
	if e.Line == 0 && (e.App != "" || e.Field != "") {
		t.Fatalf("error about app %q, field %q, names no line: %q", e.App, e.Field, msg)
	}
	if want := fmt.Sprintf("%s:%d: ", path, e.Line); e.Line > 0 && !strings.HasPrefix(msg, want) {
		t.Fatalf("error %q does not start with %q", msg, want)
	}
}
