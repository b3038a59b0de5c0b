// Package appfile reads a file of apps in PM2's ecosystem vocabulary, YAML
// or JSON, into what the command line would have said for each app: its
// name, command, environment and the value of each flag.
//
// It knows the vocabulary, not the flags: a field that is not one of PM2's
// special ones becomes the flag of the same name with dashes
// (kill_timeout → --kill-timeout), and the caller says whether such a flag
// exists. So the file and the command line can never read a value
// differently, and every clusterd flag has a spelling in the file.
//
// Every field of PM2's app schema is known here (pm2.go), in each of PM2's
// spellings: it takes effect, as a flag or as a value on App that the
// runner acts on, or comes back as a one-line Warning saying why it has
// none. A file PM2 starts is not refused for a field PM2 knows.
//
// Every error names the file, the line and the field, because the file is
// re-read on a reload of a running master and the operator must be able to
// fix it from the one line the reload prints.
package appfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-shellwords"
	"go.yaml.in/yaml/v3"
)

// App is one entry of the file's apps list.
type App struct {
	Name string
	// Index is the app's position in the apps list, from 1; Line is where
	// its entry starts.
	Index, Line int
	// Command is the program and its arguments, from cmd, or from script
	// with its interpreter, then args.
	Command []string
	// Env is env with env_<profile> merged over it, as KEY=VALUE in the
	// order the file gives them.
	Env []string
	// Settings are the app's other fields as flag values, in file order.
	Settings []Setting
	// Warnings are the fields that have no effect here, or only in part,
	// one line each; the first app also carries the file's own (keys at
	// the top that PM2 ignores). The file is valid: print them and run it.
	Warnings []Warning

	// What PM2's fields ask for that no flag says. The runner wires them.

	// Namespace is PM2's namespace: a group of apps that ls, reload and
	// stop can name together. Empty: none (PM2's "default").
	Namespace string
	// InstanceVar is the variable that gives each worker its instance
	// number, from 0 (PM2's instance_var; empty is NODE_APP_INSTANCE).
	// IncrementVar names a variable of Env holding a number: each worker
	// gets it plus its instance number (PM2's increment_var: PORT 3000
	// gives 3000, 3001, ...). WorkerEnv computes both.
	InstanceVar, IncrementVar string
	// CronRestart is when PM2 would restart the app (cron_restart); nil:
	// never. Here it means a rolling, ready-gated reload at those times.
	CronRestart *Schedule
	// ExpBackoffRestartDelay is PM2's exp_backoff_restart_delay: after a
	// crash a worker is restarted after this delay, growing 1.5 times per
	// crash in a row up to 15s, back to this once a worker has run 30s (the
	// exp-backoff-restart-delay flag).
	ExpBackoffRestartDelay time.Duration
	// WatchOptions are what maps of PM2's watch_options; nil: none given.
	// They are in Settings too, as the --watch-* flags that do them.
	WatchOptions *WatchOptions
	// DisableLogs: PM2 keeps no line of the app's output anywhere
	// (disable_logs). Its files are os.DevNull, which must never be
	// rotated, and the master's memory of recent lines may be skipped too.
	DisableLogs bool
	// LogDirs are the directories of the app's log and pid files,
	// absolute. PM2 creates those that are missing, and so must the runner
	// (owned by the workers' user) before it opens the files; the file is
	// read without them, for a reload must not create anything.
	LogDirs []string
}

// Setting is one field of an app that sets a flag.
type Setting struct {
	Field  string   // as written in the file: kill_timeout
	Flag   string   // the flag it sets: kill-timeout
	Values []string // one, or the items of a list
	Line   int
}

// Error is a problem at one place in the file.
type Error struct {
	Path string
	Line int
	App  string // empty outside an app
	// Index is the app's position in the apps list, from 1; 0 outside an
	// app.
	Index int
	Field string // empty when the problem is not one field's
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.App != "" {
		fmt.Fprintf(&b, "app %q: ", e.App)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Load reads the file at path. profile, if not empty, is the --env value:
// each app's env_<profile> is merged over its env.
func Load(path, profile string) ([]App, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".js", ".cjs", ".mjs":
		return nil, fmt.Errorf("%s: a JavaScript ecosystem file runs code to produce its apps: convert it once with `clusterd import-pm2 %s > apps.yml`, then start apps.yml", path, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path, profile)
}

// Parse reads a file's contents; path names the file in errors, and a
// path ending in .json is read as PM2 reads JSON, with comments.
func Parse(data []byte, path, profile string) ([]App, error) {
	apps, err := parse(data, path, profile)
	// The YAML library puts what is missing at the end of a file on the
	// line after it: name the last line, one the reader can find.
	if e := (*Error)(nil); errors.As(err, &e) {
		e.Line = min(e.Line, lineCount(data))
	}
	return apps, err
}

func parse(data []byte, path, profile string) ([]App, error) {
	if strings.EqualFold(filepath.Ext(path), ".json") && looksLikeJSON(data) {
		// Comments and trailing commas, which PM2's JSON allows, and which
		// YAML would read as text. (YAML given a .json name, as import-pm2
		// does, is left alone: https://x is no comment there.)
		data = jsonAsPM2Reads(data)
	}
	var doc yaml.Node
	err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, &Error{Path: path, Err: errors.New("the file is empty: want an apps: list")}
	} else if err != nil {
		return nil, &Error{Path: path, Line: yamlErrorLine(err), Err: errors.New(yamlErrorText(err))}
	}
	if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
		return nil, &Error{Path: path, Err: errors.New("the file is empty: want an apps: list")}
	}
	root := resolve(doc.Content[0])
	p := parser{path: path, profile: profile}
	if dir, err := filepath.Abs(filepath.Dir(path)); err == nil {
		p.dir = dir
	}
	appsNode, err := p.appsList(root)
	if err != nil {
		return nil, err
	}
	var apps []App
	names := map[string]int{}
	for i, node := range appsNode.Content {
		app, err := p.app(node, i+1)
		if err != nil {
			return nil, err
		}
		if line, dup := names[app.Name]; dup {
			return nil, &Error{Path: path, Line: app.Line, App: app.Name, Index: app.Index, Field: "name", Err: fmt.Errorf("a second app of that name (the first is on line %d): names must be unique", line)}
		}
		names[app.Name] = app.Line
		apps = append(apps, app)
	}
	// The file's own warnings go with its first app, so that printing
	// every app's warnings prints each once.
	apps[0].Warnings = append(p.fileWarnings, apps[0].Warnings...)
	if profile != "" && !p.profileSeen {
		return nil, &Error{Path: path, Err: fmt.Errorf("--env %s: no app has env_%s", profile, profile)}
	}
	return apps, nil
}

type parser struct {
	path, profile string
	dir           string // the file's, absolute: where relative paths start
	profileSeen   bool
	fileWarnings  []Warning
}

// appsList finds the apps where PM2 does: the apps list (or PM2's older
// pm2 key), else a list at the top, else the file is one app. Other keys
// at the top PM2 ignores, and so does clusterd, saying so unless they are
// PM2's deploy or x-NAME (a place for YAML anchors, as in docker compose
// files).
func (p *parser) appsList(root *yaml.Node) (*yaml.Node, error) {
	var appsNode *yaml.Node
	switch root.Kind {
	case yaml.SequenceNode:
		appsNode = root
	case yaml.MappingNode:
		for i := 0; i+1 < len(root.Content); i += 2 {
			if key := root.Content[i]; key.Value == "apps" || (key.Value == "pm2" && appsNode == nil) {
				appsNode = resolve(root.Content[i+1])
			}
		}
		if appsNode == nil {
			appsNode = &yaml.Node{Kind: yaml.SequenceNode, Line: root.Line, Content: []*yaml.Node{root}}
			break
		}
		for i := 0; i+1 < len(root.Content); i += 2 {
			key := root.Content[i]
			if !slices.Contains([]string{"apps", "pm2", "deploy"}, key.Value) && !strings.HasPrefix(key.Value, "x-") {
				p.fileWarnings = append(p.fileWarnings, Warning{Path: p.path, Line: key.Line, Field: key.Value,
					Text: "no effect here: PM2 reads only apps (and deploy, for its deploy tool) at the top of the file"})
			}
		}
	default:
		return nil, &Error{Path: p.path, Line: root.Line, Err: errors.New("want an apps: list, a list of apps, or one app's fields")}
	}
	if appsNode.Kind == yaml.MappingNode {
		appsNode = &yaml.Node{Kind: yaml.SequenceNode, Line: appsNode.Line, Content: []*yaml.Node{appsNode}} // one app, as PM2 takes it
	}
	if appsNode.Kind != yaml.SequenceNode || len(appsNode.Content) == 0 {
		return nil, &Error{Path: p.path, Line: appsNode.Line, Field: "apps", Err: errors.New("want a list of at least one app")}
	}
	return appsNode, nil
}

// app reads one entry of apps.
func (p *parser) app(node *yaml.Node, index int) (App, error) {
	app := App{Index: index, Line: node.Line}
	fail := func(line int, field string, format string, args ...any) error {
		return &Error{Path: p.path, Line: line, App: app.Name, Index: index, Field: field, Err: fmt.Errorf(format, args...)}
	}
	warn := func(line int, field string, format string, args ...any) {
		app.Warnings = append(app.Warnings, Warning{Path: p.path, Line: line, App: app.Name, Field: field, Text: fmt.Sprintf(format, args...)})
	}
	set := func(field, flag string, line int, values ...string) {
		app.Settings = append(app.Settings, Setting{Field: field, Flag: flag, Values: values, Line: line})
	}
	node = resolve(node)
	if node.Kind != yaml.MappingNode {
		return app, fail(node.Line, "", "want a mapping of fields (name, script or cmd, ...)")
	}
	pairs, err := mappingPairs(node)
	if err != nil {
		line := node.Line
		if at := (*atLine)(nil); errors.As(err, &at) {
			line, err = at.line, at.err
		}
		return app, fail(line, "", "%v", err)
	}
	// The name and the directory first, so every later error can say which
	// app it is in, and a script can be looked for where it runs. Without
	// a name, PM2 names an app after its script.
	dir := p.dir
	for _, pair := range pairs {
		key, value := pair[0], resolve(pair[1])
		switch field := pm2Name(key.Value); {
		case field == "name":
			if value.Kind != yaml.ScalarNode || value.Value == "" {
				return app, fail(value.Line, key.Value, "want a non-empty string")
			}
			app.Name = value.Value
		case app.Name == "" && (field == "script" || field == "cmd"):
			if w, err := words(value); err == nil && len(w) > 0 {
				base := filepath.Base(w[0])
				if field == "script" {
					base = filepath.Base(value.Value)
				}
				app.Name = strings.TrimSuffix(base, filepath.Ext(base))
			}
		case field == "cwd" && value.Kind == yaml.ScalarNode:
			cwd, _ := expandPath(value.Value)
			dir = inDir(p.dir, cwd)
		}
	}
	var (
		script, interpreter   string
		interpreterArgs, args []string
		cmd                   []string
		cmdLine, scriptLine   int
		argsField             string
		env, profileEnv       []string
		nodeCompatSet         bool
		timeSet               bool
		timeLine              int
		timeField, timeValue  string
		dateFormatSet         bool
		logFiles, portEnv     []string
	)
	for _, pair := range pairs {
		key, value := pair[0], resolve(pair[1])
		written := key.Value
		field := pm2Name(written)
		var err error
		// path is a path field's value, as PM2 means it.
		path := func() (string, error) {
			v, err := scalar(value)
			if err != nil {
				return "", err
			}
			v, unset := expandPath(v)
			if len(unset) > 0 {
				warn(key.Line, written, "$%s is not set: the path keeps it as written", strings.Join(unset, ", $"))
			}
			return v, nil
		}
		switch field {
		case "":
			return app, fail(key.Line, "", "a field without a name")
		case "name":
		case "script":
			script, err = path()
			scriptLine = key.Line
		case "exec_interpreter":
			interpreter, err = path()
		case "node_args":
			interpreterArgs, err = words(value)
		case "cmd":
			cmd, err = words(value)
			cmdLine = key.Line
		case "args":
			args, err = words(value)
			argsField = written
		case "env":
			env, err = environment(value)
		case "exec_mode":
			// clusterd always runs instances of one program on shared
			// sockets: PM2's cluster mode, and fork mode when instances is 1.
			var mode string
			if mode, err = scalar(value); err == nil && !slices.Contains([]string{"cluster", "cluster_mode", "fork", "fork_mode"}, mode) {
				err = fmt.Errorf("want cluster or fork, not %q", mode)
			}
		case "merge_logs":
			// PM2 writes one log file per instance unless merge_logs; clusterd
			// writes one per app, each line naming its worker.
			var v string
			if v, err = boolean(value); err == nil && v == "false" {
				warn(key.Line, written, "no effect here: an app's workers write one file, each line naming its worker")
			}
		case "time":
			// PM2 stamps lines only with time: true or a log_date_format.
			timeValue, err = boolean(value)
			timeSet, timeLine, timeField = true, key.Line, written
		case "log_date_format":
			var format, layout string
			if value.Tag == "!!null" || value.Tag == "!!bool" && value.Value == "false" {
				dateFormatSet = true // PM2 stamps no line then
				set(written, "no-log-time", key.Line, "true")
			} else if format, err = scalar(value); err == nil {
				if layout, err = GoTimeLayout(format); err != nil {
					warn(key.Line, written, "no effect here: %v: lines keep clusterd's timestamp", err)
					err = nil
					break
				}
				set(written, "log-time-format", key.Line, layout)
				dateFormatSet = true
			}
		case "log_type":
			var v string
			if v, err = scalar(value); err == nil {
				if v == "json" {
					set(written, "log-json", key.Line, "true")
				} else {
					warn(key.Line, written, "no effect here: PM2 knows only json, and so does clusterd (log_json)")
				}
			}
		case "disable_logs":
			var v string
			if v, err = boolean(value); err == nil && v == "true" {
				app.DisableLogs = true
				set(written, "out-file", key.Line, os.DevNull)
				set(written, "error-file", key.Line, os.DevNull)
			}
		case "out_file", "error_file", "log_file", "pid_file":
			if field == "log_file" && value.Tag == "!!bool" {
				if value.Value == "true" {
					warn(key.Line, written, "no effect here: true is PM2's default file under ~/.pm2/logs: give a path")
				}
				break
			}
			var file string
			if file, err = path(); err == nil {
				if file == "NULL" {
					file = os.DevNull // PM2's word for no file
				}
				if file != os.DevNull {
					logFiles = append(logFiles, file)
				}
				set(written, map[string]string{"out_file": "out-file", "error_file": "error-file", "log_file": "log", "pid_file": "pidfile"}[field], key.Line, file)
			}
		case "cwd":
			var cwd string
			if cwd, err = path(); err == nil {
				set(written, "cwd", key.Line, cwd)
			}
		case "restart_delay":
			var values []string
			if values, err = flagValues(value); err == nil {
				set(written, "restart-delay", key.Line, values...)
			}
		case "exp_backoff_restart_delay":
			var v string
			if v, err = scalar(value); err == nil {
				if !isMillis(v) {
					err = fmt.Errorf("want milliseconds, not %q", v)
					break
				}
				app.ExpBackoffRestartDelay = millis(v)
				set(written, "exp-backoff-restart-delay", key.Line, v)
			}
		case "instance_var", "increment_var", "namespace":
			var v string
			if v, err = scalar(value); err == nil {
				switch field {
				case "instance_var":
					app.InstanceVar = v
				case "increment_var":
					app.IncrementVar = v
				default:
					app.Namespace = v
				}
			}
		case "cron_restart":
			var v string
			if v, err = scalar(value); err == nil && v != "0" && v != "" {
				if app.CronRestart, err = ParseSchedule(v); err != nil {
					warn(key.Line, written, "no effect here: %v", err)
					err = nil
				}
			}
		case "watch_options":
			var opts WatchOptions
			var ignored, unmapped []string
			if opts, ignored, unmapped, err = watchOptions(value); err == nil {
				app.WatchOptions = &opts
				if len(ignored) > 0 {
					set(written, "watch-ignore", key.Line, ignored...)
				}
				for _, s := range opts.settings() {
					set(written, s[0], key.Line, s[1])
				}
				if len(unmapped) > 0 {
					warn(key.Line, written, "%s: no effect here: chokidar's, which clusterd's watcher is not", strings.Join(unmapped, ", "))
				}
			}
		case "port":
			// PM2 gives the app PORT; the app listens on it.
			var v string
			if v, err = scalar(value); err == nil {
				portEnv = []string{"PORT=" + v}
			}
		case "uid", "gid":
			var v string
			if v, err = scalar(value); err == nil {
				set(written, map[string]string{"uid": "user", "gid": "group"}[field], key.Line, v)
			}
		case "autorestart":
			var v string
			if v, err = boolean(value); err == nil {
				set(written, "no-autorestart", key.Line, negate(v))
			}
		case "watch":
			err = p.watch(&app, written, key, value)
		case "ignore_watch":
			var values []string
			if values, err = flagValues(value); err == nil {
				set(written, "watch-ignore", key.Line, values...)
			}
		default:
			if profile, ok := strings.CutPrefix(field, "env_"); ok {
				// Every profile is checked, the chosen one used.
				var profileValues []string
				if profileValues, err = environment(value); err == nil && profile == p.profile {
					p.profileSeen = true
					profileEnv = profileValues
				}
				break
			}
			if why, ok := noEffect[field]; ok {
				if value.Kind != yaml.ScalarNode || value.Value != why.quiet {
					warn(key.Line, written, "no effect here: %s", why.why)
				}
				break
			}
			var values []string
			if values, err = flagValues(value); err == nil {
				flag := strings.ReplaceAll(field, "_", "-")
				if alias, ok := pm2Aliases[field]; ok {
					flag = alias
				}
				if flag == "node-compat" {
					nodeCompatSet = true
				}
				set(written, flag, key.Line, values...)
			}
		}
		if err != nil {
			line := value.Line
			var at *atLine
			if errors.As(err, &at) {
				line, err = at.line, at.err // deeper in the value: its own line
			}
			return app, fail(line, written, "%v", err)
		}
	}
	if timeSet && !dateFormatSet {
		if timeValue == "true" {
			set(timeField, "log-time-format", timeLine, "2006-01-02T15:04:05") // PM2's YYYY-MM-DDTHH:mm:ss
		} else {
			set(timeField, "no-log-time", timeLine, "true")
		}
	}
	switch {
	case cmd != nil && script != "":
		return app, fail(cmdLine, "cmd", "give either cmd (a command line) or script (a file, with its interpreter), not both")
	case len(cmd) > 0:
		app.Command = append(cmd, args...)
	case script != "" && interpreter == "" && strings.Contains(script, " "):
		// As PM2 does: "python3 app.py --fast" is a command line for the
		// shell, and PM2 drops args.
		app.Command = []string{shellProgram(), "-c", script}
		if len(args) > 0 {
			warn(scriptLine, argsField, "no effect here: a script with spaces is a shell command line, and PM2 drops args then too")
		}
	case script != "":
		command, viaNode := scriptCommand(script, interpreter, interpreterArgs, dir)
		app.Command = append(command, args...)
		if viaNode && !nodeCompatSet {
			// A script: app.js entry is a PM2 app: it may listen(PORT) and
			// process.send('ready') and expects SIGINT, so it gets
			// --node-compat unless the file says node_compat: false.
			app.Settings = append([]Setting{{Field: "script", Flag: "node-compat", Values: []string{"true"}, Line: scriptLine}}, app.Settings...)
		}
		if strings.Contains(filepath.Base(app.Command[0]), "python") && !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PYTHONUNBUFFERED=") }) {
			env = append(env, "PYTHONUNBUFFERED=1") // as PM2 does: lines reach the log as they are printed
		}
	default:
		return app, fail(node.Line, "", "no script or cmd: say what to run")
	}
	if app.Command[0] == "" {
		return app, fail(max(cmdLine, scriptLine), "", "the program to run is empty")
	}
	if app.Name == "" {
		return app, fail(node.Line, "name", "no name, and none to take from the script: give the app a name")
	}
	for _, file := range logFiles {
		if d := filepath.Dir(inDir(p.dir, file)); !slices.Contains(app.LogDirs, d) {
			app.LogDirs = append(app.LogDirs, d)
		}
	}
	app.Env = mergeEnv(mergeEnv(env, profileEnv), portEnv)
	return app, nil
}

// watch reads PM2's watch: true (the app's directory), false, a path or a
// list of paths.
func (p *parser) watch(app *App, field string, key, value *yaml.Node) error {
	if value.Kind == yaml.ScalarNode && value.Tag == "!!bool" {
		if v, _ := boolean(value); v == "true" {
			app.Settings = append(app.Settings, Setting{Field: field, Flag: "watch", Values: []string{"."}, Line: key.Line})
		}
		return nil
	}
	values, err := flagValues(value)
	for i := range values {
		values[i], _ = expandPath(values[i])
	}
	if err == nil && len(values) > 0 {
		app.Settings = append(app.Settings, Setting{Field: field, Flag: "watch", Values: values, Line: key.Line})
	}
	return err
}

// inDir is path relative to dir when it is relative.
func inDir(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// Fields are the field names this package reads itself or maps to a flag
// of another name (the rest are flag names with underscores): PM2's, in
// each of their spellings, and clusterd's cmd.
func Fields() []string {
	names := append([]string{"cmd"}, pm2Fields...)
	for name := range pm2Spellings {
		names = append(names, name)
	}
	for name := range pm2Aliases {
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// pm2Aliases are PM2 field names whose clusterd flag is named otherwise.
var pm2Aliases = map[string]string{
	"kill_signal": "stop-signal",
	"listen_addr": "listen",
}

// interpreters are what PM2 runs a script with, by its extension.
var interpreters = map[string]string{
	".js": "node", ".cjs": "node", ".mjs": "node",
	".py": "python3", ".sh": "bash", ".rb": "ruby", ".php": "php", ".pl": "perl",
}

// scriptCommand is how PM2 runs script: with the interpreter given, or the
// one its extension calls for, or as it is ("none"), found in dir or PATH
// as PM2 finds it. viaNode says whether node runs it.
func scriptCommand(script, interpreter string, interpreterArgs []string, dir string) (command []string, viaNode bool) {
	if interpreter == "" {
		interpreter = interpreters[strings.ToLower(filepath.Ext(script))]
	}
	if interpreter == "" || interpreter == "none" {
		return []string{programPath(script, dir)}, false
	}
	command = append([]string{interpreter}, interpreterArgs...)
	return append(command, script), filepath.Base(interpreter) == "node"
}

func scalar(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", errors.New("want a single value")
	}
	return n.Value, nil
}

func boolean(n *yaml.Node) (string, error) {
	v, err := scalar(n)
	if err != nil || (v != "true" && v != "false") {
		return "", errors.New("want true or false")
	}
	return v, nil
}

func negate(v string) string {
	if v == "true" {
		return "false"
	}
	return "true"
}

// words reads a command line: a list, or a string split as a shell would
// (quotes group, nothing is expanded).
func words(n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.SequenceNode {
		return flagValues(n)
	}
	s, err := scalar(n)
	if err != nil {
		return nil, errors.New("want a string or a list of strings")
	}
	w, err := shellwords.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	return w, nil
}

// flagValues is a scalar as one value, or a list of scalars.
func flagValues(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, errors.New("no value")
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		values := make([]string, len(n.Content))
		for i, item := range n.Content {
			if item = resolve(item); item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("item %d: want a single value", i+1)
			}
			values[i] = item.Value
		}
		return values, nil
	}
	return nil, errors.New("want a value or a list of values")
}

// environment reads an env mapping as KEY=VALUE; numbers and booleans are
// their text, as PM2 passes them.
func environment(n *yaml.Node) ([]string, error) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping of NAME: value")
	}
	pairs, err := mappingPairs(n)
	if err != nil {
		return nil, err
	}
	env := make([]string, 0, len(pairs))
	for _, pair := range pairs {
		key, value := pair[0], resolve(pair[1])
		if key.Value == "" || strings.ContainsAny(key.Value, "=\x00") {
			return nil, &atLine{key.Line, fmt.Errorf("%q is not a variable name", key.Value)}
		}
		if value.Kind != yaml.ScalarNode {
			return nil, &atLine{value.Line, fmt.Errorf("%s: want a single value", key.Value)}
		}
		v := value.Value
		if value.Tag == "!!null" {
			v = ""
		}
		if strings.ContainsRune(v, 0) {
			return nil, &atLine{value.Line, fmt.Errorf("%s: a NUL byte cannot be in the environment", key.Value)}
		}
		env = append(env, key.Value+"="+v)
	}
	return env, nil
}

// mergeEnv is base with over's variables replacing or adding to it.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		name, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool { return strings.HasPrefix(e, name+"=") })
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// atLine is an error deeper in a value than the field's own line.
type atLine struct {
	line int
	err  error
}

func (e *atLine) Error() string { return e.err.Error() }

// resolve follows a YAML alias (*name) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// maxMergedFields bounds what the merge keys of one mapping expand to.
// Merges of merges multiply (a YAML "billion laughs": a few lines that
// expand to 4^40 fields), and the file is re-read on every reload of a
// running master; no real app has a thousand fields.
const maxMergedFields = 10000

var errMergesTooLarge = fmt.Errorf("the merges (<<) here expand to more than %d fields: merges of merges multiply", maxMergedFields)

// mappingPairs are a mapping's key and value nodes, with YAML merge keys
// (<<: *defaults, or a list of them) expanded: what is merged comes
// first, and a key of the mapping itself replaces it. A merge of a
// mapping it is in is refused, and so are merges that expand too far.
func mappingPairs(n *yaml.Node) ([][2]*yaml.Node, error) {
	budget := maxMergedFields
	return expandMerges(n, nil, &budget)
}

// expandMerges is mappingPairs for n, merged into the mappings of within
// (outermost first), with budget fields left to expand.
func expandMerges(n *yaml.Node, within []*yaml.Node, budget *int) ([][2]*yaml.Node, error) {
	within = append(within, n)
	var merged, own [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if *budget--; *budget < 0 {
			return nil, errMergesTooLarge
		}
		if key.Kind != yaml.ScalarNode {
			return nil, &atLine{key.Line, errors.New("a key must be a plain word, not a list, a mapping or an alias")}
		}
		if key.Value != "<<" || key.Tag != "!!merge" {
			own = append(own, [2]*yaml.Node{key, value})
			continue
		}
		sources := []*yaml.Node{value}
		if value.Kind == yaml.SequenceNode {
			sources = value.Content
		}
		for _, src := range sources {
			src = resolve(src)
			if src.Kind != yaml.MappingNode {
				return nil, &atLine{src.Line, errors.New("a merge (<<) wants a mapping or a list of them")}
			}
			if slices.Contains(within, src) {
				return nil, &atLine{key.Line, errors.New("this merge (<<) merges the mapping it is in: it would never end")}
			}
			pairs, err := expandMerges(src, within, budget)
			if errors.Is(err, errMergesTooLarge) && len(within) == 1 {
				err = &atLine{key.Line, err} // the merge the reader wrote here, not one deep in an anchor
			}
			if err != nil {
				return nil, err
			}
			merged = append(merged, pairs...)
		}
	}
	// A key given twice keeps its last value: the mapping's own over the
	// merged ones.
	all := append(merged, own...)
	last := make(map[string]int, len(all))
	for i, pair := range all {
		last[pair[0].Value] = i
	}
	out := all[:0:0]
	for i, pair := range all {
		if last[pair[0].Value] == i {
			out = append(out, pair)
		}
	}
	return out, nil
}

// lineCount is how many lines YAML sees in data: it breaks lines at \n,
// \r\n, a lone \r, and Unicode's NEL, LS and PS.
func lineCount(data []byte) int {
	lines := 1
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			i++
			lines++
		case data[i] == '\r', data[i] == '\n':
			lines++
		case bytes.HasPrefix(data[i:], []byte("\u0085")), bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			lines++
		}
	}
	return lines
}

// yamlErrorLine digs the line out of the YAML library's message
// ("yaml: line 7: did not find expected key").
func yamlErrorLine(err error) int {
	var line int
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i:], "line %d", &line)
	}
	return line
}

func yamlErrorText(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, "line "); i == 0 {
		if j := strings.Index(msg, ": "); j > 0 {
			msg = msg[j+2:]
		}
	}
	return "not valid YAML or JSON: " + msg
}
