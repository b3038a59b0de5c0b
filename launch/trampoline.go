package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Starting a worker takes one exec of its command (docs/design.md §3).
// LISTEN_PID must be the worker's own pid, which the master cannot know
// before the fork, and Go's ForkExec runs no code of ours between fork and
// exec. The master therefore execs a trampoline of a few hundred bytes
// (launch/trampoline/trampoline_amd64.S) that writes its pid into the
// LISTEN_PID and WATCHDOG_PID placeholders and execs the command in the same
// process. The trampoline lives in a sealed memfd, so no file is left
// behind and a deploy cannot replace it. The exec shim (a second exec of
// clusterd's own 24 MB binary and its Go runtime start) remains for other
// architectures and where the kernel refuses to exec a memfd
// (vm.memfd_noexec=2).

// pidPlaceholder is what the trampoline overwrites: room for any pid.
const pidPlaceholder = ".........."

// Trampoline is the path the master execs to start a worker through the
// trampoline, or "" where workers start through the exec shim; Why says
// why not.
func Trampoline() (path string, why error) {
	t := trampoline()
	return t.path, t.err
}

var trampoline = sync.OnceValue(func() (t struct {
	path string
	err  error
}) {
	t.path, t.err = openTrampoline()
	if t.err != nil {
		t.path = ""
	}
	return t
})

func openTrampoline() (string, error) {
	if trampolineELF == nil {
		return "", errors.New("no trampoline for this architecture")
	}
	const mfdExec = 0x10 // MFD_EXEC, Linux 6.3+: exec allowed whatever vm.memfd_noexec says
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate("clusterd-worker-trampoline", flags|mfdExec)
	if err == unix.EINVAL { // an older kernel: every memfd may be executed
		fd, err = unix.MemfdCreate("clusterd-worker-trampoline", flags)
	}
	if err != nil {
		return "", fmt.Errorf("memfd: %w", err)
	}
	if _, err := unix.Write(fd, trampolineELF); err != nil {
		unix.Close(fd)
		return "", fmt.Errorf("memfd: %w", err)
	}
	unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
	// The descriptor stays open for the master's life; a worker execs it
	// through its own /proc/self/fd before exec closes it there.
	path := "/proc/self/fd/" + strconv.Itoa(fd)
	// Once: does the kernel exec it? A refusal (SELinux, noexec memfds)
	// comes back from Start; the probe then fails to exec a missing
	// command and exits 127. Its exit status may be reaped by the
	// process's reaper first, so Wait's answer does not matter.
	probe := exec.Command(path, "/nonexistent/clusterd-trampoline-probe")
	if err := probe.Start(); err != nil {
		unix.Close(fd)
		return "", fmt.Errorf("the kernel does not execute the trampoline: %w", err)
	}
	probe.Wait()
	// The exec shim marked every descriptor of the worker above those it
	// is given close-on-exec, for descriptors the master inherited without
	// the flag (from a shell, a CI runner). The trampoline cannot know which
	// are given, so the master marks its own once: everything it opens
	// itself is close-on-exec already, and ForkExec clears the flag on the
	// descriptors it hands over.
	markCloseOnExec()
	return path, nil
}

// markCloseOnExec marks every descriptor above stderr close-on-exec.
func markCloseOnExec() {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}
