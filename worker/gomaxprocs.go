package worker

import (
	"os"
	"runtime"
	"strconv"
)

// InstancesVar is how many workers the master runs, set in every worker's
// environment next to LISTEN_FDS.
const InstancesVar = "CLUSTERD_INSTANCES"

// Go workers split the CPUs between them (docs/design.md §17): with one Go
// worker per CPU, each worker's runtime would run as many scheduler threads
// as there are CPUs, and they contend. fasthttp's prefork sets
// GOMAXPROCS(1) in its children for the same reason. A program that imports
// this package and runs as one of several workers (LISTEN_FDS set for it,
// CLUSTERD_INSTANCES above 1) therefore starts with GOMAXPROCS set to its
// share of the CPUs, at least 1, before main runs. The user's own GOMAXPROCS
// variable always wins.
func init() {
	if n, ok := cpuShare(os.LookupEnv, runtime.GOMAXPROCS(0), os.Getpid()); ok {
		runtime.GOMAXPROCS(n)
	}
}

// cpuShare is this worker's share of cpus, and whether to apply it.
func cpuShare(lookup func(string) (string, bool), cpus, pid int) (int, bool) {
	if _, set := lookup("GOMAXPROCS"); set {
		return 0, false
	}
	if _, set := lookup("LISTEN_FDS"); !set {
		return 0, false
	}
	if owner, set := lookup("LISTEN_PID"); set && owner != strconv.Itoa(pid) {
		return 0, false // the variables are a parent's, not ours
	}
	value, _ := lookup(InstancesVar)
	instances, err := strconv.Atoi(value)
	if err != nil || instances < 2 {
		return 0, false
	}
	return max(1, cpus/instances), true
}
