package master

// scheduleCron arms the next scheduled rolling reload (PM2's cron_restart).
// PM2 restarts every process at once; here it is the ready-gated rolling
// reload, so a schedule never takes the site down. A reload changes the
// schedule by re-arming; cronSeq drops a timer of the old one.
func (m *Master) scheduleCron() {
	m.cronSeq++
	if m.cfg.CronRestart == nil {
		return
	}
	now := m.clock.Now()
	next := m.cfg.CronRestart.Next(now)
	if next.IsZero() || !next.After(now) {
		return
	}
	seq := m.cronSeq
	m.after(next.Sub(now), func() {
		if seq != m.cronSeq || m.stopping {
			return
		}
		m.log.Info("cron_restart: scheduled rolling reload")
		m.requestReload(func(err error) {
			if err != nil {
				m.log.Error("cron_restart: the scheduled reload was aborted; the old workers keep serving", "err", err)
			}
		})
		m.scheduleCron()
	})
}
