package config

import "reflect"

// How a reload treats each field of Config. One table decides both what a
// reload changes and what it reports as not applied, and a test fails when
// a field of Config is missing from it.
type reloadRule int

const (
	// live: the running master takes the new value at once.
	live reloadRule = iota
	// withRelease: the reload's new workers run with it (the command, its
	// directory and environment; the instance count once the reload
	// succeeded).
	withRelease
	// fixed: only a new master applies it (its sockets, files, endpoints,
	// who its workers run as, and what is one per process); a reload keeps
	// the running value and names the field as not applied.
	fixed
	// notAValue: not configuration a file can change (the logger, the
	// re-read function itself).
	notAValue
)

// reloadRules maps each Config field to its rule and its name in a config
// file (the flag's name with underscores).
var reloadRules = map[string]struct {
	rule reloadRule
	name string
}{
	"Command": {withRelease, "script"}, "Dir": {withRelease, "cwd"}, "Env": {withRelease, "env"},
	"Instances": {withRelease, "instances"}, "InstancesFrom": {live, "instances_from"},
	"WorkerEnv": {withRelease, "instance_var"}, "CronRestart": {live, "cron_restart"},

	"WaitReady": {live, "wait_ready"}, "ListenTimeout": {live, "listen_timeout"}, "KillTimeout": {live, "kill_timeout"},
	"MinUptime": {live, "min_uptime"}, "MaxRestarts": {live, "max_restarts"}, "RestartDelay": {live, "restart_delay"},
	"MaxRestartDelay": {live, "max_restart_delay"}, "ExpBackoff": {live, "exp_backoff_restart_delay"}, "Namespace": {live, "namespace"}, "ReadyGrace": {live, "ready_grace"},
	"NoAutorestart": {live, "autorestart"}, "StopExitCodes": {live, "stop_exit_codes"}, "StopSignal": {live, "kill_signal"},
	"Watchdog": {live, "watchdog"}, "HealthInterval": {live, "health_interval"}, "HealthTimeout": {live, "health_timeout"},
	"HealthFailures": {live, "health_failures"}, "MaxMemoryRestart": {live, "max_memory_restart"},

	"Name": {fixed, "name"}, "Listen": {fixed, "listen"}, "NoListen": {fixed, "no_listen"}, "ReusePort": {fixed, "reuseport"}, "SharedSocket": {fixed, "shared_socket"},
	"ControlPath": {fixed, "control"}, "Metrics": {fixed, "metrics"}, "Pidfile": {fixed, "pidfile"},
	"UpgradeTimeout": {fixed, "upgrade_timeout"}, "ForkRate": {fixed, "max_fork_rate"}, "ForkBurst": {fixed, "fork_burst"},
	"User": {fixed, "user"}, "Group": {fixed, "group"},
	"HealthCheck": {fixed, "health_check"}, "ReadyOnHealth": {fixed, "ready_on_health"},
	"NodeCompat": {fixed, "node_compat"}, "NodeIPC": {fixed, "node_ipc"}, "ShutdownWithMessage": {fixed, "shutdown_with_message"},
	"Watch": {fixed, "watch"}, "WatchIgnore": {fixed, "ignore_watch"}, "WatchDelay": {fixed, "watch_delay"},
	"WatchPoll": {fixed, "watch_poll"}, "WatchPollInterval": {fixed, "watch_poll_interval"}, "WatchNoFollowSymlinks": {fixed, "watch_no_follow_symlinks"},
	"WatchDepth": {fixed, "watch_depth"}, "WatchAwaitWrite": {fixed, "watch_await_write"},
	"LogFile": {fixed, "log"}, "OutFile": {fixed, "out_file"}, "ErrorFile": {fixed, "error_file"},
	"LogJSON": {fixed, "log_json"}, "LogTimeFormat": {fixed, "log_time_format"}, "NoLogTime": {fixed, "no_log_time"},
	"LogMaxSize": {fixed, "log_max_size"}, "LogMaxFiles": {fixed, "log_max_files"},

	"Reconfigure": {notAValue, ""}, "Logger": {notAValue, ""},
}

// Reconcile sorts a reload's next configuration by the table. It touches
// no master, so that what a reload may change is decided and tested in one
// place. A fixed field is compared with started, not running: the master
// derives some running values (the resolved watch paths), which a re-read
// file never equals. It returns the master's configuration from now on,
// the one the reload's workers run with, and the file names of the fixed
// fields that changed.
func Reconcile(running, started, next Config) (nowRunning, release Config, notApplied []string) {
	nowRunning, release = running, running
	nowV, releaseV := reflect.ValueOf(&nowRunning).Elem(), reflect.ValueOf(&release).Elem()
	nextV, startedV := reflect.ValueOf(next), reflect.ValueOf(started)
	for i := range nowV.NumField() {
		field := nowV.Type().Field(i).Name
		switch r := reloadRules[field]; r.rule {
		case live:
			nowV.Field(i).Set(nextV.Field(i))
			releaseV.Field(i).Set(nextV.Field(i))
		case withRelease:
			releaseV.Field(i).Set(nextV.Field(i))
		case fixed:
			if !reflect.DeepEqual(startedV.Field(i).Interface(), nextV.Field(i).Interface()) {
				notApplied = append(notApplied, r.name)
			}
		}
	}
	return nowRunning, release, notApplied
}
