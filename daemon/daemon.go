// Package daemon runs masters in the background, PM2's way, and
// remembers them: the state directory (PM2's ~/.pm2) with a record per app
// started in the background, starting a master in a session of its own and
// waiting until its apps are ready, and what to say when one is not.
package daemon

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/config"
	"github.com/clusterd/clusterd/control"
	"github.com/clusterd/clusterd/logcapture"
)

// The state directory is PM2's ~/.pm2: what outlives a master. It holds
//   - apps/NAME.json, one record per app started in the background: how to
//     start it again. An app is "stopped" when its record is there and no
//     master answers on its control socket (after `stop`, `kill`, a crash
//     or a reboot); `start NAME` and `restart NAME` run the record again,
//     `delete` removes it. A record is the command line, the directory and
//     the environment of the `start` that made it, so the running master
//     keeps nothing for a stopped app and nothing is lost if it dies;
//   - dump.json, what `save` wrote and `resurrect` starts;
//   - daemon.log, the output of every background master.
//
// StateDir is $XDG_STATE_HOME/clusterd, else ~/.clusterd; root's is
// /var/lib/clusterd. CLUSTERD_HOME overrides all three, as PM2_HOME does.
func StateDir() (string, error) {
	dir := os.Getenv("CLUSTERD_HOME")
	switch {
	case dir != "":
	case os.Getenv("XDG_STATE_HOME") != "":
		dir = filepath.Join(os.Getenv("XDG_STATE_HOME"), "clusterd")
	case os.Getuid() == 0:
		dir = "/var/lib/clusterd"
	default:
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("state directory: %w (set XDG_STATE_HOME or CLUSTERD_HOME)", err)
		}
		dir = filepath.Join(home, ".clusterd")
	}
	if err := os.MkdirAll(filepath.Join(dir, "apps"), 0o700); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	return dir, nil
}

// Record is how to start one app again: `clusterd Args...` (Args[0] is
// "start" and the paths in it are absolute) run in Dir with Env. Listen,
// set by save, are the addresses the app had: resurrect opens the same.
type Record struct {
	Name   string   `json:"name"`
	Args   []string `json:"args"`
	Dir    string   `json:"dir"`
	Env    []string `json:"env"`
	Listen []string `json:"listen,omitempty"`
}

// WithListen is the record's command line with the saved addresses in
// place of any --listen it had.
func (r Record) WithListen() []string {
	if len(r.Listen) == 0 {
		return r.Args
	}
	dash := slices.Index(r.Args, "--")
	if dash < 0 {
		dash = len(r.Args)
	}
	var out []string
	for _, a := range r.Args[:dash] {
		if !strings.HasPrefix(a, "--listen=") {
			out = append(out, a)
		}
	}
	for _, l := range r.Listen {
		out = append(out, "--listen="+l)
	}
	return append(out, r.Args[dash:]...)
}

func RecordPath(dir, name string) string { return filepath.Join(dir, "apps", name+".json") }

func WriteRecord(dir string, r Record) error {
	return WriteJSON(RecordPath(dir, r.Name), r)
}

func ReadRecord(dir, name string) (Record, error) {
	var r Record
	b, err := os.ReadFile(RecordPath(dir, name))
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	return r, err
}

// ReadRecords are every app record, by name.
func ReadRecords(dir string) []Record {
	paths, _ := filepath.Glob(filepath.Join(dir, "apps", "*.json"))
	var out []Record
	for _, p := range paths {
		if r, err := ReadRecord(dir, strings.TrimSuffix(filepath.Base(p), ".json")); err == nil {
			out = append(out, r)
		}
	}
	return out
}

func RemoveRecord(dir, name string) error {
	err := os.Remove(RecordPath(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// WriteJSON writes v to path by temp file and rename, never in place.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// SavedEnv is the environment a record keeps: the caller's, without what
// describes the caller's own supervisor rather than the app.
func SavedEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, p := range []string{"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="} {
			if strings.HasPrefix(kv, p) {
				return true
			}
		}
		return false
	})
}

// Client is the control client of an app.
func Client(cfg config.Config) *control.Client {
	path := cfg.ControlPath
	if path == "" {
		path, _ = control.DefaultPath(cfg.Name)
	}
	return &control.Client{Path: path, Timeout: 5 * time.Second}
}

// SpawnAndWait runs `clusterd args...` as a background master: a new
// session (a terminal's hangup never reaches it), stdin from /dev/null,
// stdout and stderr appended to daemon.log in the state directory. It
// returns once every app of configs has every slot ready.
func SpawnAndWait(state string, args []string, dir string, env []string, configs []config.Config) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := filepath.Join(state, "daemon.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("daemon log: %w", err)
	}
	defer logFile.Close()
	logStart, _ := logFile.Seek(0, io.SeekEnd)
	daemon := exec.Command(self, args...)
	daemon.Dir, daemon.Env = dir, env
	daemon.Stdout, daemon.Stderr = logFile, logFile // Stdin nil: /dev/null
	daemon.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := daemon.Start(); err != nil {
		return fmt.Errorf("starting the background master: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()
	err = waitStarted(configs, exited)
	var failed *startFailure
	switch {
	case errors.As(err, &failed):
		return fmt.Errorf("%w%s", err, failed.lastLines())
	case err != nil:
		return fmt.Errorf("%w%s", err, indent(tailFrom(logPath, logStart, 10)))
	}
	return nil
}

// startFailure: a worker of the app exited before every slot was ready.
type startFailure struct {
	client *control.Client
	app    string
	slot   int
	why    string
}

func (f *startFailure) Error() string {
	return fmt.Sprintf("app %s failed to start: slot %d: %s (its master retries in the background: clusterd ls, clusterd delete %s)", f.app, f.slot, f.why, f.app)
}

// lastLines are the failing slot's last lines of output.
func (f *startFailure) lastLines() string {
	var lines []string
	f.client.Logs(200, false, func(msg logcapture.LogMessage) error {
		if msg.Line != nil && msg.Line.Slot == f.slot {
			lines = append(lines, msg.Line.Line)
		}
		return nil
	})
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return indent(lines)
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "\n  " + strings.Join(lines, "\n  ")
}

// waitStarted polls the apps' control sockets until every slot of each has
// a ready worker. A worker that exits first is a failed start; a master
// that exits, or a deadline past the longest listen timeout, fails too.
func waitStarted(configs []config.Config, exited <-chan error) error {
	longest := time.Duration(0)
	pending := map[string]*control.Client{}
	for _, cfg := range configs {
		longest = max(longest, cfg.ListenTimeout+cfg.MinUptime)
		pending[cfg.Name] = Client(cfg)
	}
	deadline := time.Now().Add(longest + 10*time.Second)
	for {
		for name, client := range pending {
			st, err := client.Status()
			if err != nil {
				continue // not listening yet
			}
			for _, w := range st.Workers {
				if w.State == "errored" || w.LastExit != "" {
					return &startFailure{client: client, app: name, slot: w.Slot, why: "its worker exited before it was ready: " + control.OrDash(w.LastExit)}
				}
			}
			if AllReady(st) {
				delete(pending, name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the background master exited before its apps were ready (%v); its last lines (daemon.log):", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			var late []string
			for name := range pending {
				late = append(late, name)
			}
			return fmt.Errorf("not ready within %s: %s (clusterd ls; clusterd logs APP)", longest+10*time.Second, strings.Join(late, ", "))
		}
	}
}

// AllReady: every slot has a ready worker of its own (workers a reload
// replaced may still be draining beside them).
func AllReady(st *control.Status) bool {
	ready := 0
	for _, w := range st.Workers {
		if w.State == "ready" && !w.Successor {
			ready++
		}
	}
	return ready == st.Instances
}

// tailFrom is the last n lines written to path after offset.
func tailFrom(path string, offset int64, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	f.Seek(offset, io.SeekStart)
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
