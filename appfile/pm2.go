package appfile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file is PM2's app schema (lib/API/schema.json of Unitech/pm2) and
// what each of its fields does here. A field either takes effect or is
// named in one warning saying why it has none: a file PM2 starts is never
// refused for a field PM2 knows.

// pm2Spellings are the other names PM2 reads a field by: the aliases of its
// schema, and (added by PM2's Config.schema) each field's camelCase.
var pm2Spellings = func() map[string]string {
	aliases := map[string][]string{
		"script":           {"exec", "command"},
		"exec_interpreter": {"interpreter"},
		"node_args":        {"interpreterArgs", "interpreter_args"},
		"out_file":         {"out", "output", "out_log"},
		"error_file":       {"error", "err", "err_file", "err_log"},
		"log_file":         {"log"},
		"pid_file":         {"pid"},
		"cron_restart":     {"cron"},
		"merge_logs":       {"combine_logs"},
		"uid":              {"user"},
	}
	m := map[string]string{}
	for _, field := range pm2Fields {
		for _, alias := range aliases[field] {
			m[alias] = field
		}
		parts := strings.Split(field, "_")
		for i := 1; i < len(parts); i++ {
			if len(parts[i]) > 1 {
				parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
			}
		}
		if camel := strings.Join(parts, ""); camel != field {
			m[camel] = field
		}
	}
	return m
}()

// pm2Fields are the fields of PM2's app schema, env_<profile> aside.
var pm2Fields = []string{
	"script", "name", "name_prefix", "filter_env", "namespace", "install_url", "cwd", "args",
	"exec_interpreter", "node_args", "out_file", "error_file", "log_file", "disable_logs", "log_type",
	"log_date_format", "time", "env", "max_memory_restart", "pid_file", "restart_delay",
	"exp_backoff_restart_delay", "source_map_support", "disable_source_map_support", "wait_ready",
	"instances", "kill_timeout", "shutdown_with_message", "listen_timeout", "cron_restart", "merge_logs",
	"vizion", "autostart", "autorestart", "stop_exit_codes", "watch_delay", "watch", "ignore_watch",
	"watch_options", "min_uptime", "max_restarts", "execute_command", "exec_mode", "force",
	"append_env_to_name", "post_update", "trace", "disable_trace", "v8", "event_loop_inspector",
	"deep_monitoring", "increment_var", "instance_var", "pmx", "automation", "treekill", "port",
	"username", "uid", "gid", "windowsHide", "kill_retry_time", "write", "io",
}

// pm2Name is the schema's name of a field written with one of PM2's other
// spellings; a clusterd flag's name is left as it is (user, log: the same
// meaning either way).
func pm2Name(written string) string {
	if name, ok := pm2Spellings[written]; ok {
		return name
	}
	return written
}

// noEffect are PM2's fields that do nothing here, and why. A field whose
// value is quiet asks for what clusterd does anyway, and is not warned of.
var noEffect = map[string]struct{ why, quiet string }{
	"name_prefix":                {"PM2 prefixes the names of its modules; name the app itself", ""},
	"filter_env":                 {"workers get the master's whole environment, with env over it", ""},
	"install_url":                {"it is for PM2's modules", ""},
	"source_map_support":         {"it is PM2's Node wrapper's; run node with --enable-source-maps in node_args", ""},
	"disable_source_map_support": {"it is PM2's Node wrapper's; clusterd adds no source map support", "true"},
	"vizion":                     {"it is PM2's git metadata for its dashboard", "false"},
	"autostart":                  {"every app of the file starts", "true"},
	"execute_command":            {"it is PM2's internal flag for commands", ""},
	"force":                      {"starting a file runs each app once, by name", ""},
	"append_env_to_name":         {"an app keeps its name whatever --env says", "false"},
	"post_update":                {"it is for PM2's dashboard-driven updates", ""},
	"trace":                      {"it is PM2.io's (keymetrics) tracing", "false"},
	"disable_trace":              {"it is PM2.io's (keymetrics) tracing", "true"},
	"v8":                         {"it is PM2.io's (keymetrics) monitoring", "false"},
	"event_loop_inspector":       {"it is PM2.io's (keymetrics) monitoring", "false"},
	"deep_monitoring":            {"it is PM2.io's (keymetrics) monitoring", "false"},
	"pmx":                        {"it is PM2.io's (keymetrics) monitoring", "false"},
	"automation":                 {"it is PM2.io's (keymetrics) monitoring", "false"},
	"io":                         {"it is PM2.io's (keymetrics) monitoring", ""},
	"treekill":                   {"a stop signals the worker's whole process group", "true"},
	"username":                   {"PM2 records who started an app; uid (user) says who runs it", ""},
	"windowsHide":                {"it is for Windows", ""},
	"kill_retry_time":            {"after kill_timeout a worker gets SIGKILL once, not retries", ""},
	"write":                      {"it is for PM2's HTTP interface", ""},
	"deploy":                     {"it is PM2's deploy tool's, and belongs at the top of the file", ""},
}

// Warning is a field of the file that has no effect here, or takes effect
// only in part: the file still runs, and the reader learns why in one line.
type Warning struct {
	Path  string
	Line  int
	App   string // empty for a field at the top of the file
	Field string // as written in the file
	Text  string
}

// String is the warning's one line: "apps.yml:7: app "api": vizion: no
// effect here: it is PM2's git metadata for its dashboard".
func (w Warning) String() string {
	return (&Error{Path: w.Path, Line: w.Line, App: w.App, Field: w.Field, Err: errors.New(w.Text)}).Error()
}

// WatchOptions are what maps of PM2's watch_options (chokidar's options).
// They become the --watch-poll, --watch-poll-interval,
// --watch-no-follow-symlinks, --watch-depth and --watch-await-write
// settings.
type WatchOptions struct {
	// UsePolling: poll for changes instead of inotify (network and
	// container file systems); Interval is how often.
	UsePolling bool
	Interval   time.Duration
	// FollowSymlinks: watch what symlinks point to (chokidar's default,
	// so nil means true).
	FollowSymlinks *bool
	// Depth limits how many directory levels under a watched path are
	// watched; nil: all.
	Depth *int
	// AwaitWriteFinish: a file counts as changed once its size has been
	// stable this long (chokidar's stabilityThreshold; true is 2s).
	AwaitWriteFinish time.Duration
}

// settings are the flags that do what the options ask, as flag and value.
func (o WatchOptions) settings() [][2]string {
	var out [][2]string
	if o.UsePolling {
		out = append(out, [2]string{"watch-poll", "true"})
	}
	if o.Interval > 0 {
		out = append(out, [2]string{"watch-poll-interval", o.Interval.String()})
	}
	if o.FollowSymlinks != nil && !*o.FollowSymlinks {
		out = append(out, [2]string{"watch-no-follow-symlinks", "true"})
	}
	if o.Depth != nil {
		out = append(out, [2]string{"watch-depth", strconv.Itoa(*o.Depth)})
	}
	if o.AwaitWriteFinish > 0 {
		out = append(out, [2]string{"watch-await-write", o.AwaitWriteFinish.String()})
	}
	return out
}

// chokidarQuiet are chokidar options whose PM2 values are what clusterd's
// watcher does anyway.
var chokidarQuiet = map[string]string{"persistent": "true", "ignoreInitial": "true"}

// watchOptions reads watch_options. ignored (paths never to watch) becomes
// --watch-ignore, added to ignore_watch; the options that do not map are
// returned, for one warning.
func watchOptions(n *yaml.Node) (opts WatchOptions, ignored []string, unmapped []string, err error) {
	if n.Kind != yaml.MappingNode {
		return opts, nil, nil, errors.New("want a mapping of chokidar options")
	}
	pairs, err := mappingPairs(n)
	if err != nil {
		return opts, nil, nil, err
	}
	for _, pair := range pairs {
		key, value := pair[0].Value, resolve(pair[1])
		var v string
		if value.Kind == yaml.ScalarNode {
			v = value.Value
		}
		switch {
		case key == "usePolling" && (v == "true" || v == "false"):
			opts.UsePolling = v == "true"
		case key == "interval" && isMillis(v):
			opts.Interval = millis(v)
		case key == "followSymlinks" && (v == "true" || v == "false"):
			follow := v == "true"
			opts.FollowSymlinks = &follow
		case key == "depth" && isMillis(v):
			depth, _ := strconv.Atoi(v)
			opts.Depth = &depth
		case key == "awaitWriteFinish" && (v == "true" || v == "false"):
			if v == "true" {
				opts.AwaitWriteFinish = 2 * time.Second
			}
		case key == "awaitWriteFinish" && value.Kind == yaml.MappingNode:
			opts.AwaitWriteFinish = 2 * time.Second
			for i := 0; i+1 < len(value.Content); i += 2 {
				if value.Content[i].Value == "stabilityThreshold" && isMillis(value.Content[i+1].Value) {
					opts.AwaitWriteFinish = millis(value.Content[i+1].Value)
				}
			}
		case key == "ignored":
			if values, err := flagValues(value); err == nil {
				ignored = append(ignored, values...)
			} else {
				unmapped = append(unmapped, key) // a JavaScript RegExp or function
			}
		case chokidarQuiet[key] == v:
		default:
			unmapped = append(unmapped, key)
		}
	}
	return opts, ignored, unmapped, nil
}

func isMillis(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n >= 0
}

func millis(v string) time.Duration {
	n, _ := strconv.Atoi(v)
	return time.Duration(n) * time.Millisecond
}

// expandPath expands a path as a PM2 user's file means it: a leading ~ is
// the home directory (PM2 does this for its log and pid files), and $VAR
// or ${VAR} is the master's environment variable (what a JavaScript
// ecosystem file does with process.env). A variable that is not set is
// left as written, and named.
func expandPath(s string) (string, []string) {
	if s == "~" || strings.HasPrefix(s, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			s = home + s[1:]
		}
	}
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var unset []string
	expanded := os.Expand(s, func(name string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		unset = append(unset, name)
		return "${" + name + "}"
	})
	return expanded, unset
}

// shellProgram is what PM2 runs a script with spaces with: bash, or sh
// where there is no bash.
func shellProgram() string {
	if _, err := exec.LookPath("bash"); err == nil {
		return "bash"
	}
	return "sh"
}

// programPath is how a script without an interpreter is run: as a file of
// the app's directory if there is one (PM2 looks there first), else by
// its name in PATH (npm, ts-node, node), else as the file it names, which
// the start reports missing.
func programPath(script, dir string) string {
	if strings.Contains(script, "/") {
		return script
	}
	if _, err := os.Stat(filepath.Join(dir, script)); err == nil {
		return "./" + script
	}
	if _, err := exec.LookPath(script); err == nil {
		return script
	}
	return "./" + script
}

// WorkerEnv is the environment PM2 gives the worker with this instance
// number (from 0) of instances, for apps that read it: the instance number
// in InstanceVar, pm_id (PM2's process id; here the instance number, which
// is unique within the app), name, namespace, exec_mode and instances, and
// IncrementVar's base value from Env plus the instance number. It goes
// over Env.
func (a App) WorkerEnv(instance, instances int) []string {
	instanceVar := a.InstanceVar
	if instanceVar == "" {
		instanceVar = "NODE_APP_INSTANCE"
	}
	namespace := a.Namespace
	if namespace == "" {
		namespace = "default"
	}
	env := []string{
		fmt.Sprintf("%s=%d", instanceVar, instance),
		fmt.Sprintf("pm_id=%d", instance),
		"name=" + a.Name,
		"namespace=" + namespace,
		"exec_mode=cluster_mode",
		fmt.Sprintf("instances=%d", instances),
	}
	if a.IncrementVar != "" {
		base := 0
		if i := slices.IndexFunc(a.Env, func(kv string) bool { return strings.HasPrefix(kv, a.IncrementVar+"=") }); i >= 0 {
			base, _ = strconv.Atoi(strings.TrimPrefix(a.Env[i], a.IncrementVar+"="))
		}
		env = append(env, fmt.Sprintf("%s=%d", a.IncrementVar, base+instance))
	}
	return env
}
