package master

import (
	"reflect"
	"slices"
	"strings"
)

// releaseEnv is the whole environment of a release's workers: the master's,
// then the release's own variables over it, then what --node-compat adds.
func (m *Master) releaseEnv(own []string) []string {
	env := slices.Clone(m.workerEnv)
	for _, kv := range own {
		name, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return hasKey(e, name) })
		env = append(env, kv)
	}
	if m.cfg.NodeCompat {
		env = nodeCompatEnv(env, m.nodePreload, m.Addresses())
	}
	return env
}

// reconfigure installs what a reload's new configuration may change in a
// running master and returns the configuration the reload runs with. The
// command, directory and environment take effect with the reload's new
// workers, the instance count once it succeeded; the rest at once. What
// needs a new master is kept, with a warning naming it, and listed in
// notApplied.
func (m *Master) reconfigure(next Config) (run Config, notApplied []string) {
	if notApplied = fixedChanges(m.fixed, next); len(notApplied) > 0 {
		m.log.Warn("configuration changes not applied: they need a restart of the master",
			"fields", strings.Join(notApplied, ", "))
	}
	cur := &m.cfg
	cur.WaitReady, cur.ListenTimeout, cur.KillTimeout = next.WaitReady, next.ListenTimeout, next.KillTimeout
	cur.MinUptime, cur.MaxRestarts = next.MinUptime, next.MaxRestarts
	cur.RestartDelay, cur.MaxRestartDelay, cur.ReadyGrace = next.RestartDelay, next.MaxRestartDelay, next.ReadyGrace
	cur.NoAutorestart, cur.StopExitCodes, cur.StopSignal = next.NoAutorestart, next.StopExitCodes, next.StopSignal
	cur.Watchdog = next.Watchdog
	cur.HealthInterval, cur.HealthTimeout, cur.HealthFailures = next.HealthInterval, next.HealthTimeout, next.HealthFailures
	cur.MaxMemoryRestart = next.MaxMemoryRestart
	m.startMemoryWatch() // if it was off and is on now
	run = m.cfg
	run.Command, run.Dir, run.Env, run.Instances = next.Command, next.Dir, next.Env, next.Instances
	return run, notApplied
}

// fixedChanges names the fields that differ between the configuration the
// master started with and next, among those only a new master can change:
// its sockets, its files, its endpoints and who its workers run as.
func fixedChanges(started, next Config) []string {
	fields := []struct {
		name    string
		was, is any
	}{
		{"listen", started.Listen, next.Listen},
		{"no_listen", started.NoListen, next.NoListen},
		{"reuseport", started.ReusePort, next.ReusePort},
		{"control", started.ControlPath, next.ControlPath},
		{"metrics", started.Metrics, next.Metrics},
		{"pidfile", started.Pidfile, next.Pidfile},
		{"upgrade_timeout", started.UpgradeTimeout, next.UpgradeTimeout},
		{"user", started.User, next.User},
		{"group", started.Group, next.Group},
		{"health_check", started.HealthCheck, next.HealthCheck},
		{"ready_on_health", started.ReadyOnHealth, next.ReadyOnHealth},
		{"node_compat", started.NodeCompat, next.NodeCompat},
		{"node_ipc", started.NodeIPC, next.NodeIPC},
		{"shutdown_with_message", started.ShutdownWithMessage, next.ShutdownWithMessage},
		{"watch", started.Watch, next.Watch},
		{"ignore_watch", started.WatchIgnore, next.WatchIgnore},
		{"watch_delay", started.WatchDelay, next.WatchDelay},
		{"log", started.LogFile, next.LogFile},
		{"out_file", started.OutFile, next.OutFile},
		{"error_file", started.ErrorFile, next.ErrorFile},
		{"log_json", started.LogJSON, next.LogJSON},
		{"log_time_format", started.LogTimeFormat, next.LogTimeFormat},
		{"no_log_time", started.NoLogTime, next.NoLogTime},
		{"log_max_size", started.LogMaxSize, next.LogMaxSize},
		{"log_max_files", started.LogMaxFiles, next.LogMaxFiles},
	}
	var changed []string
	for _, f := range fields {
		if !reflect.DeepEqual(f.was, f.is) {
			changed = append(changed, f.name)
		}
	}
	return changed
}
