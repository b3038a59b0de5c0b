package rig

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

// PM2Server is `pm2 start SCRIPT -i N --wait-ready`, with a PM2 daemon of its own: PM2_HOME
// is a fresh directory under the suite's work directory, so the suite never touches a PM2
// the user runs, and stop kills exactly this daemon and its workers, by PID.
type PM2Server struct {
	Rig       *Rig
	Name      string
	Instances int
	Script    string
	Env       []string // the app's environment; "{host}" and "{port}" are replaced
	Flags     []string // more `pm2 start` flags

	home, address string
	daemon        int
	seen          map[int]bool // every worker PID ever listed, so none can outlive stop
}

func (p *PM2Server) Label() string      { return p.Name }
func (p *PM2Server) Addr() string       { return p.address }
func (p *PM2Server) SupervisorPID() int { return p.daemon }

// cli runs the pm2 command line against this server's daemon.
func (p *PM2Server) cli(ctx context.Context, timeout time.Duration, args ...string) ([]byte, error) {
	host, port, _ := strings.Cut(p.address, ":")
	env := append(os.Environ(), "PM2_HOME="+p.home, "HOST="+host, "PORT="+port)
	r := strings.NewReplacer("{host}", host, "{port}", port)
	for _, kv := range p.Env {
		env = append(env, r.Replace(kv))
	}
	return Run(ctx, timeout, env, p.Rig.PM2, args...)
}

// Start runs `pm2 start` with a daemon of its own and waits until PM2 lists every worker
// online.
func (p *PM2Server) Start(ctx context.Context) error {
	var err error
	if p.address, err = FreeAddr(); err != nil {
		return err
	}
	p.home = filepath.Join(p.Rig.Work, p.Rig.uniq(p.Name)+"-pm2home")
	if err := os.MkdirAll(p.home, 0o700); err != nil {
		return err
	}
	p.seen = map[int]bool{}
	// The daemon is started by the first command: note its PID at once, so stop can
	// kill it even if the start fails half-way.
	args := []string{"start", p.Script, "-i", strconv.Itoa(p.Instances), "--name", p.Name,
		"--wait-ready", "--listen-timeout", "10000"}
	args = append(args, p.Flags...)
	_, startErr := p.cli(ctx, 2*time.Minute, args...)
	p.readDaemonPID()
	if startErr != nil {
		return fmt.Errorf("%s: %w", p.Name, startErr)
	}
	return WaitFor(ctx, readyTimeout, 100*time.Millisecond, p.Name+": all workers online", func() bool {
		pids, err := p.WorkerPIDs(ctx)
		return err == nil && len(pids) == p.Instances
	})
}

func (p *PM2Server) readDaemonPID() {
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

func (p *PM2Server) list(ctx context.Context) ([]pm2Process, error) {
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
		return nil, fmt.Errorf("%s: pm2 jlist: %w", p.Name, err)
	}
	for _, proc := range list {
		if proc.PID > 0 {
			p.seen[proc.PID] = true
		}
	}
	return list, nil
}

// WorkerPIDs lists the workers PM2 calls online: a worker PM2 is still restarting does not count.
func (p *PM2Server) WorkerPIDs(ctx context.Context) ([]int, error) {
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

// Reload runs `pm2 reload NAME`, PM2's zero-downtime reload for cluster mode.
func (p *PM2Server) Reload(ctx context.Context) error {
	out, err := p.cli(ctx, 2*time.Minute, "reload", p.Name)
	if err == nil && bytes.Contains(out, []byte("[ERROR]")) {
		err = fmt.Errorf("pm2 reload: %s", bytes.TrimSpace(out))
	}
	return err
}

// Stop runs `pm2 kill` for this daemon and then makes sure that the daemon and every
// worker it ever listed are gone.
func (p *PM2Server) Stop() error {
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
		errs = append(errs, fmt.Errorf("%s: pm2 kill: %w", p.Name, err))
	}
	pids := []int{p.daemon}
	for pid := range p.seen {
		pids = append(pids, pid)
	}
	if left := killPIDs(pids, 5*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("%s: PM2 processes %v survived SIGKILL", p.Name, left))
	}
	return errors.Join(errs...)
}

// PM2Version reads the installed PM2's version from its package.json, because running
// `pm2 --version` starts a daemon in ~/.pm2.
func PM2Version(pm2 string) string {
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
