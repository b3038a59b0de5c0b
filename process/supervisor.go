package process

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/clusterd/clusterd/worker"
)

// supervisorNotifier speaks sd_notify(3) to the process's own supervisor
// (systemd with Type=notify or notify-reload), through the same client a
// worker uses. Not running under one is the common case and costs one
// getenv. Messages go out from a goroutine of its own: an app's loop hands
// one over and never waits on the supervisor's socket.
type supervisorNotifier struct {
	log     *slog.Logger
	pending chan string // nil when there is no supervisor
}

func newSupervisorNotifier(log *slog.Logger) *supervisorNotifier {
	n := &supervisorNotifier{log: log}
	if os.Getenv("NOTIFY_SOCKET") == "" && os.Getenv("NOTIFY_FD") == "" {
		return n
	}
	n.pending = make(chan string, 256)
	go n.run()
	return n
}

func (n *supervisorNotifier) supervised() bool { return n.pending != nil }

// tell queues state for the supervisor; when the queue is full (the
// supervisor does not read), the message is dropped rather than waited for.
func (n *supervisorNotifier) tell(state string) {
	if n.pending == nil {
		return
	}
	select {
	case n.pending <- state:
	default:
	}
}

func (n *supervisorNotifier) run() {
	failing := false
	for state := range n.pending {
		// A failure is logged once: a vanished supervisor must not flood
		// the log.
		if _, err := worker.Notify(state); err != nil && !failing {
			failing = true
			n.log.Warn("cannot notify the master's supervisor (NOTIFY_SOCKET)", "err", err)
		}
	}
}

// watchdog pings WATCHDOG=1 at half the interval the supervisor asked for,
// each time every app's loop has answered: a loop that hangs stops the
// pings, and systemd restarts the master, which is the point.
type watchdog struct {
	p        *Process
	interval time.Duration
	quit     chan struct{}
}

func (p *Process) newWatchdog() *watchdog {
	if !p.notifier.supervised() {
		return nil
	}
	interval, err := worker.WatchdogInterval()
	if err != nil {
		p.log.Warn("ignoring the master's watchdog", "err", err)
		return nil
	}
	if interval <= 0 {
		return nil
	}
	return &watchdog{p: p, interval: interval, quit: make(chan struct{})}
}

func (w *watchdog) run() error {
	tick := time.NewTicker(w.interval / 2)
	defer tick.Stop()
	for {
		if w.allAnswer() {
			w.p.notifier.tell("WATCHDOG=1")
		}
		select {
		case <-tick.C:
		case <-w.quit:
			return nil
		}
	}
}

// allAnswer: the process's loop and every app's loop answer in time.
func (w *watchdog) allAnswer() bool {
	var apps []interface{ Ping(time.Duration) bool }
	answered := make(chan struct{})
	go w.p.post(func() {
		for _, a := range w.p.apps {
			apps = append(apps, a.m)
		}
		close(answered)
	})
	select {
	case <-answered:
	case <-time.After(w.interval / 4):
		return false
	}
	for _, m := range apps {
		if !m.Ping(w.interval / 4) {
			return false
		}
	}
	return true
}

func (w *watchdog) stop(error) { close(w.quit) }

// writePidfile writes pid atomically (a temp file renamed over the path),
// so a reader never sees a half-written file.
func writePidfile(path string, pid int) error {
	if path == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".clusterd-pid-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(strconv.Itoa(pid) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// removePidfile removes the pidfile if it still names pid (a successor may
// have rewritten it).
func removePidfile(path string, pid int) {
	if path == "" {
		return
	}
	if raw, err := os.ReadFile(path); err == nil && string(raw) == strconv.Itoa(pid)+"\n" {
		os.Remove(path)
	}
}
