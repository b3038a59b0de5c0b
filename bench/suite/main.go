// Command suite is clusterd's benchmark suite (issue 6): it runs clusterd side by side with
// the physical limit of its design (bare processes sharing one socket), with PM2 and with
// Node's cluster module, and writes a dated Markdown report with SVG plots.
//
//	go run ./bench/suite -quick            # every scenario, briefly (make bench-quick)
//	go run ./bench/suite -out bench/results # the full run (make bench)
//
// The machine it was written for has two cores shared by the load generator, the masters
// and the workers, so no figure stands alone: every number in the report is a ratio of two
// targets measured in the same run, the targets interleaved round by round, with the
// minimum, median and maximum over the rounds (docs/design.md §16).
//
// Everything it starts is started by PID and stopped by PID: clusterd masters, bare
// workers, PM2 daemons (each with a private PM2_HOME under the work directory) and their
// workers, wrk. Every run is bounded in time and talks to loopback addresses only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/bench/changes"
	"github.com/clusterd/clusterd/bench/faults"
	"github.com/clusterd/clusterd/bench/report"
	"github.com/clusterd/clusterd/bench/rig"
	"github.com/clusterd/clusterd/bench/steady"
)

var (
	quickProfile = rig.Profile{
		Name: "quick", Rounds: 2, Duration: 2 * time.Second, Warmup: time.Second,
		ReloadRounds: 1, Reloads: 3,
		CrashRounds: 2, CrashDuration: 3 * time.Second,
		RestartTrials: 10,
		CostWorkers:   []int{2, 16}, PM2CostWorkers: []int{2}, CostWindow: 2 * time.Second,
		SoakCrashes: 50, SoakReloads: 5,
		BalanceRounds: 2, BalanceDuration: time.Second,
		KillRounds:  1,
		ScaleCycles: 3, ScaleRounds: 1,
	}
	fullProfile = rig.Profile{
		Name: "full", Rounds: 8, Duration: 5 * time.Second, Warmup: time.Second,
		ReloadRounds: 2, Reloads: 20,
		CrashRounds: 4, CrashDuration: 6 * time.Second,
		RestartTrials: 100,
		CostWorkers:   []int{2, 16, 64, 256}, PM2CostWorkers: []int{2, 16, 64}, CostWindow: 5 * time.Second,
		SoakCrashes: 1000, SoakReloads: 100,
		BalanceRounds: 8, BalanceDuration: 3 * time.Second,
		KillRounds:  5,
		ScaleCycles: 10, ScaleRounds: 2,
	}
)

// suite is the rig every scenario runs on, and how long to wait for a quiet machine before
// each.
type suite struct {
	*rig.Rig
	quietWait time.Duration // how long to wait for a quiet machine before a scenario
}

// scenario is one section of the report.
type scenario struct {
	id    string
	title string
	run   func(ctx context.Context, r *rig.Rig) (*report.Section, error)
}

var scenarios = []scenario{
	{"1", "Overhead against the physical limit", steady.Overhead},
	{"2", "Same Node server, three managers", steady.Managers},
	{"3", "Reload under load", changes.ReloadUnderLoad},
	{"4", "Master upgrade under load", changes.MasterUpgrade},
	{"5", "Crash-prone server", faults.CrashProne},
	{"6", "Restart latency", faults.RestartLatency},
	{"7", "Cost of the master", steady.MasterCost},
	{"8", "Soak", faults.Soak},
	{"9", "Balance over the workers", steady.Balance},
	{"10", "Kill -9 of one of two workers under load", faults.KillUnderLoad},
	{"11", "Scale cycles under load", changes.ScaleCycles},
}

func main() {
	quick := flag.Bool("quick", false, "run every scenario briefly, to prove the suite works")
	out := flag.String("out", "", "directory for the report and plots (default: bench/results, or a temporary directory with -quick)")
	only := flag.String("only", "", "comma-separated scenario numbers to run (default: all)")
	clusterd := flag.String("clusterd", "bin/clusterd", "the clusterd binary under test")
	pm2 := flag.String("pm2", "bench/.tools/node_modules/.bin/pm2", "the PM2 command line (installed by make bench under bench/.tools)")
	wrk := flag.String("wrk", "wrk", "the wrk binary")
	node := flag.String("node", "node", "the node binary")
	timeout := flag.Duration("timeout", 0, "stop everything after this long (default 15m with -quick, 75m otherwise)")
	keep := flag.Bool("keep", false, "keep the work directory (logs of every process) even when all went well")
	quietWait := flag.Duration("quiet-wait", 0, "before each scenario, wait up to this long for the machine to be quiet (default 3m, 20s with -quick)")
	flag.Parse()

	s := &suite{Rig: &rig.Rig{Prof: fullProfile}, quietWait: 3 * time.Minute}
	if *quick {
		s.Prof, s.quietWait = quickProfile, 20*time.Second
	}
	if *quietWait > 0 {
		s.quietWait = *quietWait
	}
	if *timeout == 0 {
		*timeout = 75 * time.Minute
		if *quick {
			*timeout = 15 * time.Minute
		}
	}
	if err := s.setup(*clusterd, *pm2, *wrk, *node); err != nil {
		fatal(err)
	}
	if *out == "" {
		*out = filepath.Join(s.Root, "bench", "results")
		if *quick {
			var err error
			if *out, err = os.MkdirTemp("", "clusterd-bench-quick-"); err != nil {
				fatal(err)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	failed := s.runAll(ctx, *only, *out)
	s.StopAll()
	if failed || *keep {
		fmt.Fprintf(os.Stderr, "suite: logs of every process are in %s\n", s.Work)
	} else {
		os.RemoveAll(s.Work)
	}
	if failed {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "suite:", err)
	os.Exit(2)
}

// setup resolves every tool to an absolute path, so that a missing one fails here and not
// half-way through a run.
func (s *suite) setup(clusterd, pm2, wrk, node string) error {
	var err error
	if s.Root, err = repoRoot(); err != nil {
		return err
	}
	resolve := func(name, hint string) (string, error) {
		if !strings.Contains(name, "/") {
			path, err := exec.LookPath(name)
			if err != nil {
				return "", fmt.Errorf("%s not found: %s", name, hint)
			}
			return path, nil
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(s.Root, name)
		}
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%s: %s", name, hint)
		}
		return name, nil
	}
	var errs []error
	for _, t := range []struct {
		dst        *string
		name, hint string
	}{
		{&s.Clusterd, clusterd, "build it with make build"},
		{&s.PM2, pm2, "install it with make bench-tools (npm, into bench/.tools)"},
		{&s.Wrk, wrk, "install it with make bench-tools (apt-get install wrk)"},
		{&s.Node, node, "install Node.js (20 or newer)"},
	} {
		path, err := resolve(t.name, t.hint)
		errs = append(errs, err)
		*t.dst = path
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.NodeScript = filepath.Join(s.Root, "examples", "node", "server.js")
	s.ClusterScript = filepath.Join(s.Root, "examples", "node", "cluster.js")
	if s.Work, err = os.MkdirTemp("", "clusterd-bench-"); err != nil {
		return err
	}
	// Built as make build builds clusterd (static), so the two Go servers differ in their
	// code only.
	s.FasthttpRef = filepath.Join(s.Work, "fasthttpref")
	build := exec.Command("go", "build", "-o", s.FasthttpRef, "./bench/fasthttpref")
	build.Dir, build.Env = s.Root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build bench/fasthttpref: %v\n%s", err, out)
	}
	return nil
}

// repoRoot is the directory holding go.mod, found from the working directory upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s: run the suite from the repository", dir)
		}
	}
}

func (s *suite) runAll(ctx context.Context, only, out string) (failed bool) {
	want := map[string]bool{}
	for id := range strings.SplitSeq(only, ",") {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	rep := &report.Report{Date: time.Now().Format("2006-01-02"), ProfileName: s.Prof.Name, Profile: s.Prof,
		Started: time.Now()}
	rep.Env = s.environment(ctx)
	for _, sc := range scenarios {
		if len(want) > 0 && !want[sc.id] {
			continue
		}
		rig.Logf("scenario %s: %s", sc.id, sc.title)
		busy := rig.WaitQuiet(ctx, s.quietWait)
		start := time.Now()
		sec, err := sc.run(ctx, s.Rig)
		if sec == nil {
			sec = &report.Section{}
		}
		sec.ID, sec.Title, sec.Took, sec.BusyBefore = sc.id, sc.title, time.Since(start), busy
		sec.Busy = busy >= rig.QuietThreshold
		if err != nil {
			failed = true
			sec.Err = err.Error()
			rig.Logf("scenario %s FAILED: %v", sc.id, err)
		}
		s.StopAll() // nothing of one scenario may run into the next
		rep.Sections = append(rep.Sections, sec)
		rig.Logf("scenario %s done in %v", sc.id, sec.Took.Round(time.Second))
		if ctx.Err() != nil {
			failed = true
			break
		}
	}
	paths, err := rep.Write(out)
	if err != nil {
		rig.Logf("writing the report: %v", err)
		return true
	}
	for _, p := range paths {
		rig.Logf("wrote %s", p)
	}
	for _, sec := range rep.Sections {
		for _, g := range sec.Goals {
			rig.Logf("goal %-48s %-28s %s", g.What, g.Measured, g.Verdict())
		}
	}
	return failed
}

// environment describes the machine and every version, for the report's header.
func (s *suite) environment(ctx context.Context) map[string]string {
	env := map[string]string{}
	first := func(b []byte, _ error) string {
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		return line
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				env["CPU"] = strings.TrimSpace(v)
				break
			}
		}
	}
	env["CPUs (online)"] = first(rig.Run(ctx, 5*time.Second, nil, "nproc"))
	env["Kernel"] = first(rig.Run(ctx, 5*time.Second, nil, "uname", "-srm"))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		if f := strings.Fields(line); len(f) >= 2 {
			kb, _ := strconv.Atoi(f[1])
			env["Memory"] = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				env["OS"] = strings.Trim(v, `"`)
			}
		}
	}
	env["Go"] = strings.TrimPrefix(first(rig.Run(ctx, 10*time.Second, nil, "go", "version")), "go version ")
	env["Node"] = first(rig.Run(ctx, 10*time.Second, nil, s.Node, "--version"))
	env["PM2"] = rig.PM2Version(s.PM2)
	env["wrk"] = rig.WrkVersion(ctx, s.Wrk)
	commit := first(rig.Run(ctx, 5*time.Second, nil, "git", "-C", s.Root, "rev-parse", "--short", "HEAD"))
	if dirty := first(rig.Run(ctx, 5*time.Second, nil, "git", "-C", s.Root, "status", "--porcelain",
		"--untracked-files=no")); dirty != "" {
		commit += " (with uncommitted changes)"
	}
	env["clusterd"] = commit
	env["Load generators"] = "wrk -t2 (throughput); bench/load, this repository's exact-count generator (reloads, crashes, soak)"
	return env
}
