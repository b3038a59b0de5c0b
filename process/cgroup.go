package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/internal/cpulimit"
)

// cgroups gives every worker a cgroup v2 of its own, where this process may
// make them (root, or a subtree delegated to its user): systemd's
// KillMode=control-group for each worker. A process group reaches what a
// wrapper started only while it stays in the group; a cgroup also holds
// what left it (setsid, a daemon), so a reload ends the old worker's whole
// tree, and a master killed with SIGKILL leaves cgroups behind that the
// next master of the same user and cgroup finds and empties
// (docs/design.md §19).
//
// The layout is <our cgroup>/clusterd.<pid namespace>.<pid>/w<N>: no
// controller is enabled, so this process may stay in its own cgroup while
// its workers live in the children (cgroup v2 forbids processes only in a
// cgroup that hands controllers down). Workers are forked straight into
// theirs (CLONE_INTO_CGROUP), so nothing they start escapes in between.
type cgroups struct {
	base string // "" when off; why says why
	why  string
	next int
	// staleKilled counts the processes found in the cgroups of masters
	// that died without removing them, and killed.
	staleKilled int
}

// cgroupPrefix names the cgroups a master makes beside itself.
const cgroupPrefix = "clusterd."

// openCgroups makes this process's base cgroup, after emptying those left
// by masters that died without removing theirs. It never fails: without
// cgroups the workers' process groups still do most of the job.
func openCgroups() *cgroups {
	g := &cgroups{}
	own, err := cpulimit.OwnCgroupV2()
	if err != nil {
		g.why = err.Error()
		return g
	}
	ns := pidNamespace()
	g.staleKilled = cleanStaleCgroups(own, ns)
	base := filepath.Join(own, fmt.Sprintf("%s%s.%d", cgroupPrefix, ns, os.Getpid()))
	if err := os.Mkdir(base, 0o755); err != nil {
		g.why = fmt.Sprintf("cannot make a cgroup in %s: %v", own, unwrapPath(err))
		return g
	}
	g.base = base
	return g
}

// create makes the next worker's cgroup and opens it for CLONE_INTO_CGROUP.
func (g *cgroups) create() (dir string, fd int, err error) {
	g.next++
	dir = filepath.Join(g.base, "w"+strconv.Itoa(g.next))
	// MkdirAll: while the master had no worker, its empty base looked
	// like any other empty cgroup to another master's sweep.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", -1, err
	}
	fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return "", -1, err
	}
	return dir, fd, nil
}

// off stops making cgroups (the kernel refused to fork into one).
func (g *cgroups) off(why string) {
	os.Remove(g.base)
	g.base, g.why = "", why
}

// close removes the base cgroup; the workers' own are gone by then.
func (g *cgroups) close() {
	if g.base == "" {
		return
	}
	entries, _ := os.ReadDir(g.base)
	for _, e := range entries {
		if e.IsDir() {
			killCgroup(filepath.Join(g.base, e.Name()))
		}
	}
	deadline := time.Now().Add(time.Second)
	for _, e := range entries {
		if e.IsDir() {
			dir := filepath.Join(g.base, e.Name())
			for cgroupPopulated(dir) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			removeCgroup(dir)
		}
	}
	os.Remove(g.base)
}

// signalCgroup sends sig to the processes of a worker's cgroup outside
// process group pgid, which has had it: a second SIGTERM is "stop now, do
// not drain" to many servers. SIGKILL goes through cgroup.kill, which also
// gets what forks while it runs.
func signalCgroup(dir string, pgid int, sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err == nil {
			return
		}
		// Before Linux 5.14: one by one, below.
	}
	for _, pid := range cgroupProcs(dir) {
		if group, err := unix.Getpgid(pid); err == nil && group != pgid {
			unix.Kill(pid, sig)
		}
	}
}

func killCgroup(dir string) { signalCgroup(dir, 0, syscall.SIGKILL) }

// cgroupPopulated: a process is left in the cgroup (or, unreadable, we
// cannot tell, and say so to keep waiting only while the group lives).
func cgroupPopulated(dir string) bool {
	raw, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			return v == "1"
		}
	}
	return false
}

// removeCgroup removes an empty cgroup; the kernel refuses one that is not.
func removeCgroup(dir string) {
	if dir != "" {
		unix.Rmdir(dir)
	}
}

func cgroupProcs(dir string) []int {
	raw, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for _, field := range strings.Fields(string(raw)) {
		if pid, err := strconv.Atoi(field); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cleanStaleCgroups empties and removes the base cgroups beside ours whose
// master has died (same pid namespace, so its pid means what ours means),
// and says how many processes they still held: what a master killed with
// SIGKILL left running.
func cleanStaleCgroups(own, ns string) (killed int) {
	entries, err := os.ReadDir(own)
	if err != nil {
		return 0
	}
	prefix := cgroupPrefix + ns + "."
	for _, e := range entries {
		base := filepath.Join(own, e.Name())
		pidText, ours := strings.CutPrefix(e.Name(), prefix)
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cgroupPrefix) {
			continue
		}
		if !ours {
			// Another pid namespace's, whose pids mean nothing here (a
			// container's master ends with its namespace, without
			// cleaning up): removed only once empty, which rmdir checks.
			removeEmptyTree(base)
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processLives(pid) {
			continue // its master lives (an upgrade's other half, another app)
		}
		workers, _ := os.ReadDir(base)
		for _, w := range workers {
			if w.IsDir() {
				dir := filepath.Join(base, w.Name())
				killed += len(cgroupProcs(dir))
				killCgroup(dir)
			}
		}
		// The kernel empties a killed cgroup at once, but the processes
		// are gone from it only once they have died.
		deadline := time.Now().Add(2 * time.Second)
		for _, w := range workers {
			dir := filepath.Join(base, w.Name())
			for cgroupPopulated(dir) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			removeCgroup(dir)
		}
		removeCgroup(base)
	}
	return killed
}

// removeEmptyTree removes base and its worker cgroups where no process is
// left in them; the kernel refuses to remove a populated cgroup.
func removeEmptyTree(base string) {
	workers, _ := os.ReadDir(base)
	for _, w := range workers {
		if w.IsDir() {
			removeCgroup(filepath.Join(base, w.Name()))
		}
	}
	removeCgroup(base)
}

// processLives: pid names a process that has not exited. A zombie has: a
// master killed with SIGKILL stays one until its parent waits for it.
func processLives(pid int) bool {
	if errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
		return false
	}
	// /proc tells a zombie apart, where it is this pid namespace's /proc.
	if procIsAnotherNamespaces() {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// pidNamespace names this process's pid namespace by its inode, so masters
// in different namespaces never take each other's cgroups for stale.
func pidNamespace() string {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return "0"
	}
	return strconv.FormatUint(st.Ino, 10)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
