package launch

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ControlVar names, in every worker's environment, the control socket of
// the app that started it. What a worker starts inherits it, so the
// processes of an app's worker trees can be found when their master is
// gone: killed with SIGKILL, it could not stop what a wrapper (npm start,
// sh -c) started, which the parent-death signal does not reach.
const ControlVar = "CLUSTERD_CONTROL"

// StopLeftovers stops the processes left by a master of control that is
// gone: SIGTERM to each one's process group, SIGKILL to what is left after
// grace. Call it only when no master serves control (a fresh start, not an
// upgrade, whose old master's workers still serve). It returns their pids.
func StopLeftovers(control string, grace time.Duration) []int {
	mark := []byte(ControlVar + "=" + control + "\x00")
	var found []int
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append([]byte{0}, mark...)) {
			continue
		}
		found = append(found, pid)
	}
	for _, pid := range found {
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid > 1 {
			syscall.Kill(-pgid, syscall.SIGTERM)
		}
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, pid := range found {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return found
}
