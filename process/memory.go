package process

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// trimInterval is how often the master gives back the code pages that
// its work since the last trim mapped (a reload, a burst of status
// calls): one madvise call, and the few page faults of the idle loop's
// own code coming back.
const trimInterval = 10 * time.Second

// trimEvery unmaps the binary's unused pages every interval until stop is
// closed. The heap needs no such help after start: Go's scavenger returns
// what it frees.
func trimEvery(interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			unmapUnusedCode()
		case <-stop:
			return
		}
	}
}

// trimMemory gives back what starting up made resident and the master no
// longer uses. A supervisor sits idle for months; its RSS is what `ps`,
// `top` and a comparison with PM2 show, and should be what it runs on.
//
// Two things inflate it after start. The garbage of parsing flags, files
// and templates stays in the heap until the scavenger gets to it:
// FreeOSMemory returns it now. And the binary's code and read-only data
// are mapped from the file: every package's init, and the kernel's
// fault-around (16 pages mapped around each page touched), leave most of
// a 25 MB binary mapped, although the loop runs a small part of it.
// MADV_DONTNEED on those read-only file mappings removes the page table
// entries only: the pages stay in the page cache, shared with the workers
// that run the same binary, and a page the master needs again comes back
// on its next touch. Writable mappings are never touched. The page cache
// is not smaller for it, and the bench says so next to the figure: what
// goes is the master's claim on pages it does not use. It runs once every
// app is ready; the code pages are unmapped again every trimInterval.
func trimMemory() {
	debug.FreeOSMemory()
	unmapUnusedCode()
}

// unmapUnusedCode drops the page table entries of the binary's read-only
// mappings (see trimMemory).
func unmapUnusedCode() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer maps.Close()
	scanner := bufio.NewScanner(maps)
	for scanner.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(scanner.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		from, err1 := strconv.ParseUint(start, 16, 64)
		to, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || to <= from {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(from), uintptr(to-from), unix.MADV_DONTNEED)
	}
}
