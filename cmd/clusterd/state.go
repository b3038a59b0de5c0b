package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
// stateDir is $XDG_STATE_HOME/clusterd, else ~/.clusterd; root's is
// /var/lib/clusterd. CLUSTERD_HOME overrides all three, as PM2_HOME does.
func stateDir() (string, error) {
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

// appRecord is how to start one app again: `clusterd Args...` (Args[0] is
// "start" and the paths in it are absolute) run in Dir with Env. Listen,
// set by save, are the addresses the app had: resurrect opens the same.
type appRecord struct {
	Name   string   `json:"name"`
	Args   []string `json:"args"`
	Dir    string   `json:"dir"`
	Env    []string `json:"env"`
	Listen []string `json:"listen,omitempty"`
}

// withListen is the record's command line with the saved addresses in
// place of any --listen it had.
func (r appRecord) withListen() []string {
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

func recordPath(dir, name string) string { return filepath.Join(dir, "apps", name+".json") }

func writeRecord(dir string, r appRecord) error {
	return writeJSON(recordPath(dir, r.Name), r)
}

func readRecord(dir, name string) (appRecord, error) {
	var r appRecord
	b, err := os.ReadFile(recordPath(dir, name))
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	return r, err
}

// readRecords are every app record, by name.
func readRecords(dir string) []appRecord {
	paths, _ := filepath.Glob(filepath.Join(dir, "apps", "*.json"))
	var out []appRecord
	for _, p := range paths {
		if r, err := readRecord(dir, strings.TrimSuffix(filepath.Base(p), ".json")); err == nil {
			out = append(out, r)
		}
	}
	return out
}

func removeRecord(dir, name string) error {
	err := os.Remove(recordPath(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// writeJSON writes v to path by temp file and rename, never in place.
func writeJSON(path string, v any) error {
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

// savedEnv is the environment a record keeps: the caller's, without what
// describes the caller's own supervisor rather than the app.
func savedEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, p := range []string{"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="} {
			if strings.HasPrefix(kv, p) {
				return true
			}
		}
		return false
	})
}
