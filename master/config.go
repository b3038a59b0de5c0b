package master

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config is everything a master needs; cmd/clusterd fills it from flags.
type Config struct {
	// Name identifies the cluster in logs, status and the default control
	// socket path.
	Name string
	// Command is the worker program and its arguments.
	Command []string
	// Dir is the workers' working directory; empty means the master's.
	Dir string
	// Instances is the number of worker slots.
	Instances int
	// Listen are the --listen values, parsed by the listener package.
	Listen []string
	// ControlPath is the control socket; empty means DefaultControlPath(Name).
	ControlPath string
	// Pidfile, if set, is written atomically with the master's pid once
	// every worker is ready, and removed when the master exits.
	Pidfile string
	// ReusePort gives each slot its own SO_REUSEPORT socket per TCP
	// address, all held by the master, so the kernel spreads connections
	// evenly over the slots (see listener.Groups).
	ReusePort bool

	// WaitReady requires READY=1; otherwise a worker that stays up for
	// MinUptime counts as ready.
	WaitReady bool
	// ListenTimeout bounds how long a new worker may take to become ready.
	ListenTimeout time.Duration
	// KillTimeout is how long a worker may drain after SIGTERM before
	// its process group gets SIGKILL.
	KillTimeout time.Duration
	// MinUptime: a worker that dies before it was ready failed to start.
	MinUptime time.Duration
	// MaxRestarts is the number of consecutive failed starts after which a
	// slot is marked errored and left alone until the next reload.
	MaxRestarts int
	// RestartDelay is the first back-off after a failed start; it doubles
	// with each consecutive failure up to MaxRestartDelay.
	RestartDelay    time.Duration
	MaxRestartDelay time.Duration
	// ReadyGrace is how long a reload's new worker must survive after
	// READY before an old worker is retired on its word.
	ReadyGrace time.Duration
	// ForkRate caps re-forks of crashed workers, machine-wide, per second;
	// ForkBurst is how many may happen at once.
	ForkRate  float64
	ForkBurst int

	// Logger receives the master's own log lines.
	Logger *slog.Logger
}

// Defaults are the values a production user gets without flags.
func Defaults() Config {
	return Config{
		Name:            "default",
		Instances:       1,
		Listen:          []string{":3000"},
		ListenTimeout:   30 * time.Second,
		KillTimeout:     10 * time.Second,
		MinUptime:       time.Second,
		MaxRestarts:     16,
		RestartDelay:    100 * time.Millisecond,
		MaxRestartDelay: 15 * time.Second,
		ReadyGrace:      250 * time.Millisecond,
		ForkRate:        100,
		ForkBurst:       20,
	}
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Command) == 0 {
		errs = append(errs, errors.New("no command given: usage is clusterd [flags] -- COMMAND [ARGS...]"))
	}
	if c.Instances < 1 {
		errs = append(errs, fmt.Errorf("instances must be at least 1, got %d", c.Instances))
	}
	if len(c.Listen) == 0 {
		errs = append(errs, errors.New("at least one --listen address is needed"))
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"listen-timeout", c.ListenTimeout}, {"kill-timeout", c.KillTimeout},
		{"min-uptime", c.MinUptime},
	} {
		if d.value <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive, got %s", d.name, d.value))
		}
	}
	if c.RestartDelay < 0 || c.ReadyGrace < 0 {
		errs = append(errs, errors.New("--restart-delay and --ready-grace may not be negative"))
	}
	if c.MaxRestarts < 0 {
		errs = append(errs, fmt.Errorf("--max-restarts may not be negative, got %d", c.MaxRestarts))
	}
	if c.ForkRate <= 0 || c.ForkBurst < 1 {
		errs = append(errs, errors.New("fork rate and burst must be positive"))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxRestartDelay < c.RestartDelay {
		c.MaxRestartDelay = c.RestartDelay
	}
	return errors.Join(errs...)
}
