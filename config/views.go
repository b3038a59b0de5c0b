package config

import (
	"strconv"

	"github.com/clusterd/clusterd/logcapture"
	"github.com/clusterd/clusterd/restart"
	"github.com/clusterd/clusterd/watch"
)

// What the packages a master drives see of its configuration: each takes
// options of its own and imports nothing of this package, so the mapping
// from flags to their options lives here, once.

// WorkerVars are the variables that differ from worker to worker: those
// of WorkerEnv, or PM2's NODE_APP_INSTANCE.
func (c *Config) WorkerVars(slot, instances int) []string {
	if c.WorkerEnv != nil {
		return c.WorkerEnv(slot, instances)
	}
	return []string{"NODE_APP_INSTANCE=" + strconv.Itoa(slot)}
}

// RestartPolicy is the restart package's view, which a reload may change.
func (c *Config) RestartPolicy() restart.Policy {
	return restart.Policy{
		RestartDelay: c.RestartDelay, MaxRestartDelay: c.MaxRestartDelay, MaxRestarts: c.MaxRestarts,
		ExpBackoff: c.ExpBackoff, NoAutorestart: c.NoAutorestart, StopExitCodes: c.StopExitCodes,
	}
}

// LogOptions are the log capture's.
func (c *Config) LogOptions() logcapture.Options {
	return logcapture.Options{Name: c.Name, LogFile: c.LogFile, OutFile: c.OutFile, ErrorFile: c.ErrorFile,
		LogMaxSize: c.LogMaxSize, LogMaxFiles: c.LogMaxFiles, LogTimeFormat: c.LogTimeFormat, NoLogTime: c.NoLogTime,
		LogJSON: c.LogJSON, Logger: c.Logger}
}

// WatchOptions are --watch's, but for the paths.
func (c *Config) WatchOptions() watch.Options {
	return watch.Options{Ignore: c.WatchIgnore, Delay: c.WatchDelay,
		Poll: c.WatchPoll, PollInterval: c.WatchPollInterval, NoFollowSymlinks: c.WatchNoFollowSymlinks,
		Depth: c.WatchDepth, AwaitWriteFinish: c.WatchAwaitWrite}
}
