// Command statuslat measures how long the master's loop takes to answer
// `status` while many workers start and during a crash storm, side by side
// with the same master once it is idle (issue 15: p99 ≤ 50 ms):
//
//	go run ./bench/focused/statuslat -clusterd bin/clusterd[,OTHER] [-workers 256] [-rounds 3]
//
// With several binaries (a before and an after), each round runs each of
// them in turn, the order rotating from round to round.
//
// Every round starts one master of -workers workers and polls its control
// socket every 10 ms, each poll on its own goroutine so that a stalled loop
// shows as many slow answers, not as one (no coordinated omission):
//   - start: from the moment the control socket answers until every worker
//     is ready;
//   - idle: the same master for -idle afterwards (the baseline: the same
//     status, just as many workers, nothing happening);
//   - storm: a second master whose workers die -crash-after their start
//     (after ready, so each death is a crash, re-forked at once under the
//     fork-rate cap), polled for -storm.
//
// The workers are this program itself (a tiny static Go process that sleeps,
// or kills itself), so the figures are the master's and not 256 Go runtimes
// of `clusterd demo` starting on two cores; -worker demo runs those instead.
// Every process is started here and stopped by PID.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clusterd/clusterd/control"
)

// workerEnv makes this program a worker: "sleep" or "crash".
const workerEnv = "STATUSLAT_WORKER"

func main() {
	if mode := os.Getenv(workerEnv); mode != "" {
		runWorker(mode)
		return
	}
	bins := flag.String("clusterd", "bin/clusterd", "the clusterd binary, or several, comma-separated")
	workers := flag.Int("workers", 256, "workers of the start and idle phases")
	stormWorkers := flag.Int("storm-workers", 32, "workers of the crash storm")
	crashAfter := flag.Duration("crash-after", 150*time.Millisecond, "how long a storm worker lives")
	rounds := flag.Int("rounds", 3, "rounds")
	idle := flag.Duration("idle", 3*time.Second, "how long the idle phase polls")
	storm := flag.Duration("storm", 5*time.Second, "how long the storm phase polls")
	interval := flag.Duration("interval", 10*time.Millisecond, "time between polls")
	kind := flag.String("worker", "self", "self (this program, sleeping) or demo (clusterd demo)")
	flag.Parse()

	self, err := os.Executable()
	check(err)
	dir, err := os.MkdirTemp("", "statuslat-")
	check(err)
	defer os.RemoveAll(dir)

	binaries := strings.Split(*bins, ",")
	phases := map[string]map[string][]time.Duration{}
	errors := map[string]map[string]int{}
	for _, bin := range binaries {
		phases[bin], errors[bin] = map[string][]time.Duration{}, map[string]int{}
	}
	for round := 1; round <= *rounds; round++ {
		for i := range binaries {
			bin := binaries[(round+i)%len(binaries)]
			clusterd, err := filepath.Abs(bin)
			check(err)
			fmt.Printf("round %d: %s\n", round, bin)
			r := runRound(clusterd, dir, round, self, *kind, *workers, *stormWorkers, *crashAfter, *idle, *storm, *interval)
			for name, run := range r {
				phases[bin][name] = append(phases[bin][name], run.latencies...)
				errors[bin][name] += run.errors
			}
		}
	}
	fmt.Printf("\nall rounds (%d workers starting; storm of %d workers living %s each; a poll every %s):\n", *workers, *stormWorkers, *crashAfter, *interval)
	for _, bin := range binaries {
		fmt.Printf("%s:\n", bin)
		for _, name := range []string{"idle", "start", "storm"} {
			fmt.Printf("  %-5s %s\n", name, summary(phases[bin][name], errors[bin][name]))
		}
		p99 := func(name string) time.Duration { return percentile(phases[bin][name], 0.99) }
		fmt.Printf("  p99 ÷ idle p99: start %.1f, storm %.1f\n",
			float64(p99("start"))/float64(p99("idle")), float64(p99("storm"))/float64(p99("idle")))
	}
}

// runRound runs the three phases against one binary.
func runRound(clusterd, dir string, round int, self, kind string, workers, stormWorkers int, crashAfter, idle, storm, interval time.Duration) map[string]pollRun {
	worker := []string{self}
	if kind == "demo" {
		worker = []string{clusterd, "demo"}
	}
	m := startMaster(clusterd, dir, fmt.Sprintf("start-%d", round), workers, worker, "sleep")
	start := poll(m, interval, func(st *control.Status, since time.Duration) bool {
		return st != nil && ready(st) == workers
	}, 5*time.Minute)
	fmt.Printf("  %d workers ready %.2fs after the control socket accepted\n", workers, start.took.Seconds())
	idleRun := poll(m, interval, func(_ *control.Status, since time.Duration) bool { return since >= idle }, time.Minute)
	m.stop()

	s := startMaster(clusterd, dir, fmt.Sprintf("storm-%d", round), stormWorkers, []string{self}, "crash:"+crashAfter.String())
	stormRun := poll(s, interval, func(_ *control.Status, since time.Duration) bool { return since >= storm }, time.Minute)
	restarts := 0
	if stormRun.last != nil {
		for _, w := range stormRun.last.Workers {
			restarts += w.Restarts
		}
	}
	s.stop()
	fmt.Printf("  storm: %d restarts in %.1fs\n", restarts, stormRun.took.Seconds())
	runs := map[string]pollRun{"start": start, "idle": idleRun, "storm": stormRun}
	for _, name := range []string{"idle", "start", "storm"} {
		fmt.Printf("  %-5s %s\n", name, summary(runs[name].latencies, runs[name].errors))
	}
	return runs
}

// runWorker is a worker: it sleeps until told to stop, or kills itself
// after a while (a crash, as the master sees it).
func runWorker(mode string) {
	if d, ok := cutPrefix(mode, "crash:"); ok {
		after, err := time.ParseDuration(d)
		check(err)
		time.Sleep(after)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	select {} // SIGTERM ends it
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

type master struct {
	cmd     *exec.Cmd
	control string
}

func startMaster(clusterd, dir, name string, workers int, worker []string, mode string) *master {
	ctl := filepath.Join(dir, name+".sock")
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	check(err)
	defer logFile.Close()
	// min-uptime 50ms: a storm worker is ready before it dies, so its death
	// is a crash (re-forked at once), not a failed start (backed off).
	args := append([]string{"-i", fmt.Sprint(workers), "-l", "127.0.0.1:0", "--control", ctl, "--name", name,
		"--min-uptime", "50ms", "--kill-timeout", "5s", "--"}, worker...)
	cmd := exec.Command(clusterd, args...)
	cmd.Env = append(os.Environ(), workerEnv+"="+mode)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	check(cmd.Start())
	return &master{cmd: cmd, control: ctl}
}

func (m *master) stop() {
	m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
}

type pollRun struct {
	latencies []time.Duration
	errors    int
	took      time.Duration // from the first answer until done
	last      *control.Status
}

// poll asks for status every interval, each on its own goroutine, from the
// moment the control socket accepts connections (the master serves it
// before it starts any worker) until done says so (given the latest answer
// and the time since the first poll), then waits for the answers still out.
func poll(m *master, interval time.Duration, done func(st *control.Status, since time.Duration) bool, limit time.Duration) pollRun {
	client := &control.Client{Path: m.control, Timeout: time.Minute}
	deadline := time.Now().Add(limit)
	for !control.Live(m.control) {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "statuslat: the master never answered at", m.control)
			os.Exit(1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var (
		mu   sync.Mutex
		run  pollRun
		wg   sync.WaitGroup
		last time.Time
	)
	first := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for range tick.C {
		mu.Lock()
		st, since := run.last, time.Since(first)
		mu.Unlock()
		if done(st, since) || time.Now().After(deadline) {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			st, err := client.Status()
			took := time.Since(sent)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				run.errors++
				return
			}
			run.latencies = append(run.latencies, took)
			if sent.After(last) {
				last, run.last = sent, st
			}
		}()
	}
	run.took = time.Since(first)
	wg.Wait()
	return run
}

func ready(st *control.Status) int {
	n := 0
	for _, w := range st.Workers {
		if w.State == "ready" {
			n++
		}
	}
	return n
}

func summary(ds []time.Duration, errors int) string {
	return fmt.Sprintf("n=%-5d p50 %7.2f ms  p99 %8.2f ms  max %8.2f ms  errors %d",
		len(ds), ms(percentile(ds, 0.5)), ms(percentile(ds, 0.99)), ms(percentile(ds, 1)), errors)
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "statuslat:", err)
		os.Exit(1)
	}
}
