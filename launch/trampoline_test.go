package launch

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTrampolineIsItsSource: the embedded bytes are what the assembly
// source in launch/trampoline builds to.
func TestTrampolineIsItsSource(t *testing.T) {
	if trampolineELF == nil {
		t.Skip("no trampoline for this architecture")
	}
	as, errAs := exec.LookPath("as")
	ld, errLd := exec.LookPath("ld")
	if errAs != nil || errLd != nil {
		t.Skip("binutils (as, ld) are not installed")
	}
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "t.o"), filepath.Join(dir, "t")
	if out, err := exec.Command(as, "--64", "-o", obj, "trampoline/trampoline_amd64.S").CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	if out, err := exec.Command(ld, "-static", "-n", "-s", "--build-id=none", "-o", bin, obj).CombinedOutput(); err != nil {
		t.Fatalf("ld: %v\n%s", err, out)
	}
	built, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, trampolineELF) {
		t.Fatal("launch/trampoline_amd64.go is not what trampoline_amd64.S builds to: run make trampoline")
	}
}

// TestTrampolineStartsTheCommand: a worker forked through the trampoline
// is the command itself, with LISTEN_PID and WATCHDOG_PID its own pid and
// its argv[0] as given.
func TestTrampolineStartsTheCommand(t *testing.T) {
	path, why := Trampoline()
	if path == "" {
		t.Skipf("no trampoline here: %v", why)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	notifyR, notifyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer notifyR.Close()
	defer notifyW.Close()
	for _, watchdog := range []time.Duration{0, time.Second} {
		out.Truncate(0)
		out.Seek(0, 0)
		w := Worker{
			Cmd:   &Command{Path: "/bin/sh", Argv: []string{"worker-sh", "-c", `echo "$$ $0 $LISTEN_PID ${WATCHDOG_PID:-none} ${CLUSTERD_EXEC_SHIM:-none} $X"`}},
			Env:   []string{"X=.dots"},
			Stdio: [3]uintptr{0, out.Fd(), 2}, NotifyPipe: int(notifyW.Fd()), NodeIPC: -1, Watchdog: watchdog,
		}
		f := w.Fork()
		if f.Path != path {
			t.Fatalf("forked %s, not the trampoline %s", f.Path, path)
		}
		f.Attr.Sys.Pdeathsig = 0
		pid, err := syscall.ForkExec(f.Path, f.Argv, f.Attr)
		if err != nil {
			t.Fatal(err)
		}
		var status syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &status, 0, nil); err != nil || status.ExitStatus() != 0 {
			t.Fatalf("wait: %v, status %v", err, status)
		}
		got, _ := os.ReadFile(out.Name())
		wantWatchdog := "none"
		if watchdog > 0 {
			wantWatchdog = strconv.Itoa(pid)
		}
		want := strings.Join([]string{strconv.Itoa(pid), "worker-sh", strconv.Itoa(pid), wantWatchdog, "none", ".dots"}, " ")
		if strings.TrimSpace(string(got)) != want {
			t.Errorf("watchdog %v: the worker printed %q, want %q", watchdog, got, want)
		}
	}
}
