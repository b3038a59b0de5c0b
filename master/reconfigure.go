package master

import (
	"slices"
	"strings"

	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/launch"
)

// releaseEnv is the whole environment of a release's workers: the master's,
// then the release's own variables over it, then what --node-compat adds.
func (m *Master) releaseEnv(own []string) []string {
	env := slices.Clone(m.workerEnv)
	for _, kv := range own {
		name, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return launch.HasKey(e, name) })
		env = append(env, kv)
	}
	if m.cfg.NodeCompat {
		env = launch.NodeCompatEnv(env, m.nodePreload, m.Addresses())
	}
	return env
}

// reconfigure installs what a reload's new configuration may change in a
// running master and returns the configuration the reload runs with. What
// needs a new master keeps its running value, with a warning naming it,
// and is listed in notApplied.
func (m *Master) reconfigure(next config.Config) (run config.Config, notApplied []string) {
	m.cfg, run, notApplied = config.Reconcile(m.cfg, m.fixed, next)
	if len(notApplied) > 0 {
		m.log.Warn("configuration changes not applied: they need a restart of the master",
			"fields", strings.Join(notApplied, ", "))
	}
	m.startMemoryWatch() // if it was off and is on now
	m.scheduleCron()     // a new schedule, or none
	return run, notApplied
}
