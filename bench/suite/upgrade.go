package main

import "context"

// masterUpgrade is scenario 4, which waits for the master-upgrade issue (SIGUSR2 handing the
// sockets to a new master through tableflip).
func (s *suite) masterUpgrade(context.Context) (*section, error) {
	sec := &section{}
	sec.printf("Not measured: clusterd cannot upgrade its master in place yet (SIGUSR2 with " +
		"tableflip is the subject of the master-upgrade issue). When it can, this scenario will " +
		"count failed requests across upgrades under both loads of scenario 3 and check that the " +
		"listening socket stays the same (its inode in /proc/PID/fdinfo).\n")
	return sec, nil
}
