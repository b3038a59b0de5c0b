package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pm2Server is `pm2 start SCRIPT -i N --wait-ready`, with a PM2 daemon of its own: PM2_HOME
// is a fresh directory under the suite's work directory, so the suite never touches a PM2
// the user runs, and stop kills exactly this daemon and its workers, by PID.
type pm2Server struct {
	s         *suite
	name      string
	instances int
	script    string
	env       []string // the app's environment; "{host}" and "{port}" are replaced
	flags     []string // more `pm2 start` flags

	home, address string
	daemon        int
	seen          map[int]bool // every worker PID ever listed, so none can outlive stop
}

func (p *pm2Server) label() string      { return p.name }
func (p *pm2Server) addr() string       { return p.address }
func (p *pm2Server) supervisorPID() int { return p.daemon }

// cli runs the pm2 command line against this server's daemon.
func (p *pm2Server) cli(ctx context.Context, timeout time.Duration, args ...string) ([]byte, error) {
	host, port, _ := strings.Cut(p.address, ":")
	env := append(os.Environ(), "PM2_HOME="+p.home, "HOST="+host, "PORT="+port)
	r := strings.NewReplacer("{host}", host, "{port}", port)
	for _, kv := range p.env {
		env = append(env, r.Replace(kv))
	}
	return run(ctx, timeout, env, p.s.pm2, args...)
}

func (p *pm2Server) start(ctx context.Context) error {
	var err error
	if p.address, err = freeAddr(); err != nil {
		return err
	}
	p.home = filepath.Join(p.s.work, p.s.uniq(p.name)+"-pm2home")
	if err := os.MkdirAll(p.home, 0o700); err != nil {
		return err
	}
	p.seen = map[int]bool{}
	// The daemon is started by the first command: note its PID at once, so stop can
	// kill it even if the start fails half-way.
	args := []string{"start", p.script, "-i", strconv.Itoa(p.instances), "--name", p.name,
		"--wait-ready", "--listen-timeout", "10000"}
	args = append(args, p.flags...)
	_, startErr := p.cli(ctx, 2*time.Minute, args...)
	p.readDaemonPID()
	if startErr != nil {
		return fmt.Errorf("%s: %w", p.name, startErr)
	}
	return waitFor(ctx, readyTimeout, 100*time.Millisecond, p.name+": all workers online", func() bool {
		pids, err := p.workerPIDs(ctx)
		return err == nil && len(pids) == p.instances
	})
}

func (p *pm2Server) readDaemonPID() {
	b, err := os.ReadFile(filepath.Join(p.home, "pm2.pid"))
	if err == nil {
		p.daemon, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
}

// pm2Process is what this suite reads of `pm2 jlist`.
type pm2Process struct {
	PID    int    `json:"pid"`
	Name   string `json:"name"`
	PM2Env struct {
		Status          string `json:"status"`
		RestartTime     int    `json:"restart_time"`
		UnstableRestart int    `json:"unstable_restarts"`
	} `json:"pm2_env"`
}

func (p *pm2Server) list(ctx context.Context) ([]pm2Process, error) {
	out, err := p.cli(ctx, 30*time.Second, "jlist")
	if err != nil {
		return nil, err
	}
	// Warnings may come before the JSON document.
	if i := bytes.IndexByte(out, '['); i > 0 {
		out = out[i:]
	}
	var list []pm2Process
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("%s: pm2 jlist: %w", p.name, err)
	}
	for _, proc := range list {
		if proc.PID > 0 {
			p.seen[proc.PID] = true
		}
	}
	return list, nil
}

// workerPIDs lists the workers PM2 calls online.
func (p *pm2Server) workerPIDs(ctx context.Context) ([]int, error) {
	list, err := p.list(ctx)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, proc := range list {
		if proc.PM2Env.Status == "online" && proc.PID > 0 {
			pids = append(pids, proc.PID)
		}
	}
	return pids, nil
}

// reload runs `pm2 reload NAME`, PM2's zero-downtime reload for cluster mode.
func (p *pm2Server) reload(ctx context.Context) error {
	out, err := p.cli(ctx, 2*time.Minute, "reload", p.name)
	if err == nil && bytes.Contains(out, []byte("[ERROR]")) {
		err = fmt.Errorf("pm2 reload: %s", bytes.TrimSpace(out))
	}
	return err
}

// stop runs `pm2 kill` for this daemon and then makes sure that the daemon and every
// worker it ever listed are gone.
func (p *pm2Server) stop() error {
	if p.home == "" {
		return nil
	}
	var errs []error
	ctx := context.Background()
	p.list(ctx) // note the latest workers
	if p.daemon == 0 {
		p.readDaemonPID()
	}
	if _, err := p.cli(ctx, 30*time.Second, "kill"); err != nil {
		errs = append(errs, fmt.Errorf("%s: pm2 kill: %w", p.name, err))
	}
	pids := []int{p.daemon}
	for pid := range p.seen {
		pids = append(pids, pid)
	}
	if left := killPIDs(pids, 5*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("%s: PM2 processes %v survived SIGKILL", p.name, left))
	}
	return errors.Join(errs...)
}

// pm2Version reads the installed PM2's version from its package.json, because running
// `pm2 --version` starts a daemon in ~/.pm2.
func pm2Version(pm2 string) string {
	real, err := filepath.EvalSymlinks(pm2)
	if err != nil {
		return "unknown"
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(real), "..", "package.json"))
	if err != nil {
		return "unknown"
	}
	var pkg struct{ Version string }
	if json.Unmarshal(b, &pkg) != nil || pkg.Version == "" {
		return "unknown"
	}
	return pkg.Version
}
