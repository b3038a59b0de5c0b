package master

import (
	"strings"

	"github.com/clusterd/clusterd/config"
)

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
