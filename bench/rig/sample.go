package rig

import (
	"time"

	"github.com/prometheus/procfs"
)

// ProcSample is one look at a process in /proc: what a supervisor costs, read from outside
// the way any process can be read, whatever the manager.
type ProcSample struct {
	At          time.Time     `json:"at"`
	CPU         time.Duration `json:"cpu_ns"` // time on a CPU, summed over its threads (schedstat)
	CtxSwitches uint64        `json:"ctx_switches"`
	RSS         uint64        `json:"rss_bytes"`
	FDs         int           `json:"fds"`
	Threads     int           `json:"threads"`
}

// SampleProc reads a process's CPU time to the nanosecond from each thread's schedstat
// (/proc/PID/stat counts in 10 ms ticks, too coarse to tell "no CPU" from "a little"), its
// context switches (how often it woke), RSS, open descriptors and threads. A thread that
// exits between two samples takes its CPU time with it; Go runtimes rarely end threads.
func SampleProc(pid int) (ProcSample, error) {
	smp := ProcSample{At: time.Now()}
	p, err := procfs.NewProc(pid)
	if err != nil {
		return smp, err
	}
	status, err := p.NewStatus()
	if err != nil {
		return smp, err
	}
	smp.RSS = status.VmRSS
	if smp.FDs, err = p.FileDescriptorsLen(); err != nil {
		return smp, err
	}
	threads, err := procfs.AllThreads(pid)
	if err != nil {
		return smp, err
	}
	smp.Threads = len(threads)
	for _, t := range threads {
		if ss, err := t.Schedstat(); err == nil {
			smp.CPU += time.Duration(ss.RunningNanoseconds)
		}
		if ts, err := t.NewStatus(); err == nil {
			smp.CtxSwitches += ts.VoluntaryCtxtSwitches + ts.NonVoluntaryCtxtSwitches
		}
	}
	return smp, nil
}

// SampleAll sums CPU time over several processes (the workers), the denominator of a
// supervisor's share of the CPU; those gone are skipped.
func SampleAll(pids []int) time.Duration {
	var cpu time.Duration
	for _, pid := range pids {
		if smp, err := SampleProc(pid); err == nil {
			cpu += smp.CPU
		}
	}
	return cpu
}
