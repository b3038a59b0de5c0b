package master

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/worker"
)

// The master speaks sd_notify(3) to its own supervisor (systemd with
// Type=notify or notify-reload), through the same client a worker uses.
// Not running under one is the common case and costs one getenv.

// hasSupervisor: the master was started with a notify socket of its own.
func hasSupervisor() bool {
	return os.Getenv("NOTIFY_SOCKET") != "" || os.Getenv("NOTIFY_FD") != ""
}

// updateSupervisorStatus refreshes STATUS= after a worker came or went.
func (m *Master) updateSupervisorStatus() {
	if m.supervised {
		m.tellSupervisor(m.supervisorStatus())
	}
}

// tellSupervisor sends state to the master's supervisor, if it has one. A
// failure is logged once: a vanished supervisor must not flood the log.
func (m *Master) tellSupervisor(state string) {
	if !m.supervised {
		return
	}
	if _, err := worker.Notify(state); err != nil && !m.supervisorErrLogged {
		m.supervisorErrLogged = true
		m.log.Warn("cannot notify the master's supervisor (NOTIFY_SOCKET)", "err", err)
	}
}

// supervisorStatus is the STATUS= line `systemctl status` shows.
func (m *Master) supervisorStatus() string {
	readyCount := 0
	for _, s := range m.slots {
		if s.worker != nil && s.worker.state == ready {
			readyCount++
		}
	}
	status := fmt.Sprintf("STATUS=%d of %d workers ready, generation %d", readyCount, len(m.slots), m.generation)
	if m.cfg.Name != "default" {
		// The apps of a config file share the one STATUS line: say whose.
		status = fmt.Sprintf("STATUS=%s: %d of %d workers ready, generation %d", m.cfg.Name, readyCount, len(m.slots), m.generation)
	}
	if m.reload != nil {
		status += ", reloading"
	}
	return status
}

// onAllReady runs the first time every slot has a ready worker: the master
// itself is then ready (READY=1, the pidfile).
func (m *Master) onAllReady() {
	m.log.Info("all workers ready", "instances", len(m.slots), "after", time.Since(m.startedAt).Round(time.Millisecond))
	if err := m.writePidfile(); err != nil {
		m.log.Error("pidfile", "err", err)
	}
	if m.upgrader != nil {
		// The control socket's path is ours now.
		m.control.Own()
	}
	if startingMasters.Add(-1) > 0 {
		return // another app of this process is not ready yet
	}
	// Once per process: an app added later by a reload does not make it
	// ready again.
	processReady.Do(func() {
		if m.upgrader != nil {
			// Ready for tableflip: an old master waiting on this process
			// now retires, and this one can be upgraded.
			if err := m.upgrader.Ready(); err != nil {
				m.log.Error("telling the old master we are ready", "err", err)
			}
		}
		m.tellSupervisor(fmt.Sprintf("READY=1\nMAINPID=%d\n%s", m.pid, m.supervisorStatus()))
	})
}

var processReady sync.Once

// startingMasters counts the masters of this process (the apps of a config
// file) that have not yet had every worker ready: the process is ready, for
// its supervisor and for an old master upgrading to it, when the last of
// them is.
var startingMasters atomic.Int32

// reloadingMessage is what Type=notify-reload wants at the start of a
// reload: RELOADING=1 with the CLOCK_MONOTONIC time in microseconds.
func reloadingMessage() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
}

// startSupervisorWatchdog pings WATCHDOG=1 from the event loop at half
// the interval the supervisor asked for: a loop that hangs stops the
// pings, and systemd restarts the master, which is the point.
func (m *Master) startSupervisorWatchdog() {
	interval, err := worker.WatchdogInterval()
	if err != nil {
		m.log.Warn("ignoring the master's watchdog", "err", err)
		return
	}
	if interval <= 0 {
		return
	}
	var ping func()
	ping = func() {
		if m.stopping {
			return
		}
		m.tellSupervisor("WATCHDOG=1")
		m.after(interval/2, ping)
	}
	ping()
}

// writePidfile writes the master's pid atomically (a temp file renamed
// over the path), so a reader never sees a half-written file.
func (m *Master) writePidfile() error {
	if m.cfg.Pidfile == "" {
		return nil
	}
	dir := filepath.Dir(m.cfg.Pidfile)
	tmp, err := os.CreateTemp(dir, ".clusterd-pid-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(strconv.Itoa(m.pid) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), m.cfg.Pidfile)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// removePidfile removes the pidfile if it still names this master (a
// successor may have rewritten it).
func (m *Master) removePidfile() {
	if m.cfg.Pidfile == "" {
		return
	}
	if raw, err := os.ReadFile(m.cfg.Pidfile); err == nil && string(raw) == strconv.Itoa(m.pid)+"\n" {
		os.Remove(m.cfg.Pidfile)
	}
}
