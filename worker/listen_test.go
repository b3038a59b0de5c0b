package worker

import (
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/internal/proctest"
	"golang.org/x/sys/unix"
)

// TestListenersFromMaster runs a child that inherits two sockets as descriptors 3 and 4,
// the way the master starts a worker, and checks names, environment and the shared
// O_NONBLOCK flag.
func TestListenersFromMaster(t *testing.T) {
	webAddr, web := proctest.Socket(t)
	adminAddr, admin := proctest.Socket(t)

	child := proctest.Start(t, "listeners", []*os.File{web, admin}, "LISTEN_FDNAMES=web:admin")

	if got, want := child.WaitOutput("env "), `env LISTEN_PID="" LISTEN_FDS="" LISTEN_FDNAMES=""`; got != want {
		t.Errorf("child environment after NamedListeners:\n got %s\nwant %s", got, want)
	}
	for _, s := range []struct{ addr, name string }{{webAddr, "web"}, {adminAddr, "admin"}} {
		if got := readAll(t, s.addr); got != s.name {
			t.Errorf("connection to %s was answered by listener %q, want %q", s.addr, got, s.name)
		}
	}
	child.WaitOutput("done")
	if code := child.Wait(); code != 0 {
		t.Fatalf("child exited with %d", code)
	}
	// The child wrapped, accepted on and closed its copies; the description it shares with
	// the master (and every other worker) must still be non-blocking (docs/design.md §2).
	for _, f := range []*os.File{web, admin} {
		if flags := proctest.StatusFlags(t, f); flags&unix.O_NONBLOCK == 0 {
			t.Errorf("%s: flags %#o lost O_NONBLOCK", f.Name(), flags)
		}
	}
}

// TestFilesRestoresNonBlocking hands a child a socket some other process left blocking;
// after Files (and an Fd call, which is where the os package would clear the flag if it
// had set it) the shared description is non-blocking and the descriptor close-on-exec.
func TestFilesRestoresNonBlocking(t *testing.T) {
	_, sock := proctest.Socket(t)
	setNonblock(t, sock, false)
	if flags := proctest.StatusFlags(t, sock); flags&unix.O_NONBLOCK != 0 {
		t.Fatalf("setup: flags %#o still non-blocking", flags)
	}

	child := proctest.Start(t, "files", []*os.File{sock}, "LISTEN_FDNAMES=web")
	if got, want := child.WaitOutput("file "), "file web fd=3 cloexec=true"; got != want {
		t.Errorf("child reported %q, want %q", got, want)
	}
	child.WaitOutput("done")
	if code := child.Wait(); code != 0 {
		t.Fatalf("child exited with %d", code)
	}
	if flags := proctest.StatusFlags(t, sock); flags&unix.O_NONBLOCK == 0 {
		t.Errorf("flags %#o: the shared socket is still blocking", flags)
	}
}

func TestInheritedFilesNamesAndFlags(t *testing.T) {
	_, a := proctest.Socket(t)
	_, b := proctest.Socket(t)
	setNonblock(t, b, false) // one the master got wrong
	first := dupAt(t, a, b)

	files, err := inheritedFiles("42", "2", "web:", 42, first)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(files) })

	wantNames := []string{"web", "unknown"}
	if len(files) != len(wantNames) {
		t.Fatalf("got %d files, want %d", len(files), len(wantNames))
	}
	for i, f := range files {
		if f.Name() != wantNames[i] {
			t.Errorf("file %d is named %q, want %q", i, f.Name(), wantNames[i])
		}
		if fdFlags, err := unix.FcntlInt(uintptr(first+i), unix.F_GETFD, 0); err != nil || fdFlags&unix.FD_CLOEXEC == 0 {
			t.Errorf("descriptor %d: F_GETFD %#x, %v: not close-on-exec", first+i, fdFlags, err)
		}
	}
	for _, f := range []*os.File{a, b} {
		if flags := proctest.StatusFlags(t, f); flags&unix.O_NONBLOCK == 0 {
			t.Errorf("%s: flags %#o: not non-blocking", f.Name(), flags)
		}
	}
}

func TestInheritedFilesNotForUs(t *testing.T) {
	for _, tc := range []struct{ name, pid, fds string }{
		{"no variables", "", ""},
		{"no LISTEN_PID", "", "1"},
		{"no LISTEN_FDS", "42", ""},
		{"another process", "43", "1"},
		{"no sockets", "42", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Descriptor -1 would fail if it were looked at.
			files, err := inheritedFiles(tc.pid, tc.fds, "", 42, -1)
			if files != nil || err != nil {
				t.Errorf("got %v, %v; want nil, nil", files, err)
			}
		})
	}
}

func TestInheritedFilesErrors(t *testing.T) {
	_, sock := proctest.Socket(t)
	first := dupAt(t, sock)
	for _, tc := range []struct{ name, pid, fds, want string }{
		{"malformed LISTEN_PID", "x42", "1", `LISTEN_PID="x42"`},
		{"malformed LISTEN_FDS", "42", "one", `LISTEN_FDS="one"`},
		{"negative LISTEN_FDS", "42", "-1", `LISTEN_FDS="-1"`},
		{"descriptor not open", "42", "2", "descriptor " + strconv.Itoa(first+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := inheritedFiles(tc.pid, tc.fds, "", 42, first)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, %v; want an error mentioning %s", files, err, tc.want)
			}
			if files != nil {
				t.Errorf("got files %v with the error", files)
			}
		})
	}
}

// TestFilesUnsetsEnvironment: whatever Files finds, programs the worker starts must not
// inherit the variables (they would describe descriptors those programs do not have).
func TestFilesUnsetsEnvironment(t *testing.T) {
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()+1))
	t.Setenv("LISTEN_FDS", "1")
	t.Setenv("LISTEN_FDNAMES", "web")
	files, err := Files()
	if files != nil || err != nil {
		t.Errorf("Files() = %v, %v; want nil, nil for another process's sockets", files, err)
	}
	for _, name := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if v, ok := os.LookupEnv(name); ok {
			t.Errorf("%s=%q is still set", name, v)
		}
	}
	listeners, err := Listeners()
	if listeners != nil || err != nil {
		t.Errorf("Listeners() = %v, %v; want nil, nil without a master", listeners, err)
	}
}

// dupAt duplicates the files' descriptors to consecutive free numbers, as if they were
// inherited there, and returns the first number.
func dupAt(t *testing.T, files ...*os.File) int {
	t.Helper()
	for first := 300; first < 1000; first += 50 {
		free := true
		for i := range len(files) + 1 { // one more, free, for the "not open" case
			if _, err := unix.FcntlInt(uintptr(first+i), unix.F_GETFD, 0); err == nil {
				free = false
			}
		}
		if !free {
			continue
		}
		for i, f := range files {
			raw, err := f.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var dupErr error
			if err := raw.Control(func(fd uintptr) { dupErr = unix.Dup3(int(fd), first+i, 0) }); err != nil || dupErr != nil {
				t.Fatal(err, dupErr)
			}
			// Close it unless a test wrapped it (then closing it again is harmless: EBADF,
			// and nothing else is opened at this number meanwhile).
			t.Cleanup(func() { unix.Close(first + i) })
		}
		return first
	}
	t.Fatal("no free descriptor range")
	return 0
}

func setNonblock(t *testing.T, f *os.File, nonblocking bool) {
	t.Helper()
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var setErr error
	if err := raw.Control(func(fd uintptr) { setErr = unix.SetNonblock(int(fd), nonblocking) }); err != nil || setErr != nil {
		t.Fatal(err, setErr)
	}
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func readAll(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, proctest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(proctest.Timeout))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
