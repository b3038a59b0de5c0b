// Package cpulimit counts the CPUs a cluster may keep busy: the CPUs this
// process may run on, lowered to the CPU quota of its cgroup (cgroup v2
// cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us). A container limited to
// 1.5 CPUs on a 64-CPU host gets 2 workers for `-i max`, not 64 that the
// kernel then throttles.
//
// It reads the same files the same way as the Go runtime does for its
// default GOMAXPROCS (Go 1.25 and later): the cgroup this process is in,
// found through /proc/self/cgroup and /proc/self/mountinfo, a v1 cpu
// controller taking precedence over v2, and a fractional quota rounded up.
// It does not simply use runtime.GOMAXPROCS(0), because that also follows
// the master's own GOMAXPROCS environment variable and GODEBUG settings,
// rounds a quota below 2 up to 2 (one worker is right for one CPU), and
// cannot say where its number came from.
package cpulimit

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Count is a number of CPUs and where it came from.
type Count struct {
	N int
	// Source is "CPUs" when the machine's CPUs (as this process's affinity
	// allows) decide, or the cgroup file and its values when a quota does:
	// "cgroup v2 cpu.max 150000/100000".
	Source string
}

// String reads "2 (cgroup v2 cpu.max 150000/100000)" or "8 (CPUs)".
func (c Count) String() string { return fmt.Sprintf("%d (%s)", c.N, c.Source) }

// Get counts the CPUs for this process now. A cgroup file that is missing
// or malformed counts as no limit, as it does for the Go runtime.
func Get() Count { return count("/", runtime.NumCPU()) }

// count reads /proc and the cgroup mounts under root (a temporary
// directory in tests).
func count(root string, numCPU int) Count {
	all := Count{N: numCPU, Source: "CPUs"}
	quota, source, ok := cgroupQuota(root)
	if !ok {
		return all
	}
	// Round up: 1.5 CPUs of quota keep 2 workers busy part of the time,
	// which beats leaving half a CPU idle.
	n := max(int(math.Ceil(quota)), 1)
	if n >= numCPU {
		return all
	}
	return Count{N: n, Source: source}
}

// cgroupQuota is the CPU quota (CPUs' worth of time per period) of the
// cgroup this process is in; ok is false when there is none.
func cgroupQuota(root string) (quota float64, source string, ok bool) {
	path, v1, err := cpuCgroup(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0, "", false
	}
	dir, err := mountedAt(filepath.Join(root, "proc/self/mountinfo"), path, v1)
	if err != nil {
		return 0, "", false
	}
	dir = filepath.Join(root, dir)
	if v1 {
		q, err1 := readInt(filepath.Join(dir, "cpu.cfs_quota_us"))
		p, err2 := readInt(filepath.Join(dir, "cpu.cfs_period_us"))
		if err1 != nil || err2 != nil || q < 0 || p <= 0 {
			return 0, "", false // -1: no quota
		}
		return float64(q) / float64(p), fmt.Sprintf("cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us %d/%d", q, p), true
	}
	b, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
	if err != nil {
		return 0, "", false
	}
	fields := strings.Fields(string(b)) // "150000 100000" or "max 100000"
	if len(fields) != 2 || fields[0] == "max" {
		return 0, "", false
	}
	q, err1 := strconv.ParseInt(fields[0], 10, 64)
	p, err2 := strconv.ParseInt(fields[1], 10, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0, "", false
	}
	return float64(q) / float64(p), fmt.Sprintf("cgroup v2 cpu.max %d/%d", q, p), true
}

// cpuCgroup finds this process's cgroup path in /proc/self/cgroup: the v1
// hierarchy with the cpu controller if there is one (hybrid mode), else the
// v2 one ("0::/path").
func cpuCgroup(file string) (path string, v1 bool, err error) {
	f, err := os.Open(file)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	var v2 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hierarchy, rest, ok1 := strings.Cut(sc.Text(), ":")
		controllers, p, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || !strings.HasPrefix(p, "/") {
			continue
		}
		if hierarchy == "0" && controllers == "" {
			v2 = p
		} else if hasCPU(controllers) {
			return p, true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", false, err
	}
	if v2 == "" {
		return "", false, fmt.Errorf("%s: no cpu cgroup", file)
	}
	return v2, false, nil
}

// mountedAt is the directory of cgroup path: the mount of the right
// hierarchy whose root contains it, plus the path below that root. Inside
// a container's cgroup namespace both the path and the root are "/".
func mountedAt(mountinfo, path string, v1 bool) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
		before, after, ok := strings.Cut(sc.Text(), " - ")
		fields, super := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(super) < 3 {
			continue
		}
		root, mountPoint, fstype := unescape(fields[3]), unescape(fields[4]), super[0]
		switch {
		case v1 && (fstype != "cgroup" || !hasCPU(super[2])):
			continue
		case !v1 && fstype != "cgroup2":
			continue
		}
		rel, ok := strings.CutPrefix(path, root)
		if root == "/" {
			rel, ok = path, true
		}
		if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) || strings.HasPrefix(rel, "/..") {
			continue
		}
		return filepath.Join(mountPoint, rel), nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no mount of cgroup %s", mountinfo, path)
}

// hasCPU: a comma-separated list of controllers or mount options names
// "cpu" ("cpu,cpuacct", "rw,cpu").
func hasCPU(list string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == "cpu" {
			return true
		}
	}
	return false
}

// unescape undoes mountinfo's octal escapes of space, tab, newline and
// backslash ("\040").
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readInt(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// OwnCgroupV2 is the directory of this process's cgroup v2, where the
// process makes a cgroup per worker. It is here because this package
// already reads /proc/self/cgroup and mountinfo the way the runtime does.
func OwnCgroupV2() (string, error) {
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("no cgroup: %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok && strings.HasPrefix(path, "/") {
			return mountedAt("/proc/self/mountinfo", path, false)
		}
	}
	return "", errors.New("no cgroup v2 hierarchy (cgroup v1 only)")
}
