package listener

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in               string
		name, net, addr  string
		wantErrSubstring string
	}{
		{in: ":3000", name: "listen0", net: "tcp", addr: ":3000"},
		{in: "127.0.0.1:8080", name: "listen0", net: "tcp", addr: "127.0.0.1:8080"},
		{in: "[::1]:80", name: "listen0", net: "tcp", addr: "[::1]:80"},
		{in: "unix:/run/app.sock", name: "listen0", net: "unix", addr: "/run/app.sock"},
		{in: "http=:80", name: "http", net: "tcp", addr: ":80"},
		{in: "api=unix:/tmp/x.sock", name: "api", net: "unix", addr: "/tmp/x.sock"},
		{in: "3000", wantErrSubstring: "want host:port"},
		{in: ":99999", wantErrSubstring: "port \"99999\""},
		{in: ":+80", wantErrSubstring: "port \"+80\""},
		{in: ":-0", wantErrSubstring: "port \"-0\""},
		{in: "unix:", wantErrSubstring: "path is empty"},
		{in: "a:b=:80", wantErrSubstring: "may not contain ':'"},
		{in: "=:80", wantErrSubstring: "name before '=' is empty"},
	}
	for _, c := range cases {
		spec, err := Parse(c.in, 0)
		if c.wantErrSubstring != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrSubstring) {
				t.Errorf("Parse(%q) error = %v, want one containing %q", c.in, err, c.wantErrSubstring)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if spec.Name != c.name || spec.Network != c.net || spec.Address != c.addr {
			t.Errorf("Parse(%q) = %+v, want name=%s net=%s addr=%s", c.in, spec, c.name, c.net, c.addr)
		}
	}
}

func fdFlags(t *testing.T, fd int) int {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags
}

func fdCloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// TestOpenGivesBlockingBareFd checks the invariants the workers rely on: a
// blocking (as systemd hands it), close-on-exec descriptor that still
// accepts connections after the net.Listener it came from is closed.
func TestOpenGivesBlockingBareFd(t *testing.T) {
	s, err := Open(Spec{Name: "web", Network: "tcp", Address: "127.0.0.1:0"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fdFlags(t, s.Fd())&unix.O_NONBLOCK != 0 {
		t.Fatalf("listening socket is non-blocking; a worker written for socket activation fails its first accept with EAGAIN")
	}
	if !fdCloexec(t, s.Fd()) {
		t.Fatalf("listening socket is not close-on-exec; it would leak into unrelated children")
	}
	if !strings.HasPrefix(s.BoundAddress(), "127.0.0.1:") || strings.HasSuffix(s.BoundAddress(), ":0") {
		t.Fatalf("BoundAddress() = %q, want the real port", s.BoundAddress())
	}
	// The socket must still be listening: connect, then accept on the bare fd.
	conn, err := net.Dial("tcp", s.BoundAddress())
	if err != nil {
		t.Fatalf("connect after detach: %v", err)
	}
	defer conn.Close()
	dup, err := unix.Dup(s.Fd())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(os.NewFile(uintptr(dup), "ln"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	accepted.Close()
}

func TestOpenPortInUse(t *testing.T) {
	first, err := Open(Spec{Name: "a", Network: "tcp", Address: "127.0.0.1:0"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = Open(Spec{Name: "b", Network: "tcp", Address: first.BoundAddress()}, Options{})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second bind error = %v, want 'address already in use'", err)
	}
	if strings.Count(err.Error(), first.BoundAddress()) > 1 {
		t.Errorf("error repeats the address: %v", err)
	}
}

func TestUnixSocketLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.sock")
	spec := Spec{Name: "app", Network: "unix", Address: path}
	s, err := Open(spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("socket path missing after Open (closing the net copy must not unlink it): %v", err)
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.Close()
	if _, err := Open(spec, Options{}); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("opening a live unix socket twice: err = %v, want already in use", err)
	}
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Release removed the socket path: %v", err)
	}
	// Nobody listens now: the stale path is replaced.
	s2, err := Open(spec, Options{})
	if err != nil {
		t.Fatalf("reopen over a stale socket: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Close left the socket path behind: %v", err)
	}
}

func TestUnixPathThatIsNotASocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Spec{Name: "x", Network: "unix", Address: path}, Options{})
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("err = %v, want 'not a socket'", err)
	}
}

func TestSetNamesAndReusePort(t *testing.T) {
	a, err := Open(Spec{Name: "a", Network: "tcp", Address: "127.0.0.1:0"}, Options{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(Spec{Name: "b", Network: "tcp", Address: a.BoundAddress()}, Options{ReusePort: true})
	if err != nil {
		t.Fatalf("second reuseport socket on the same address: %v", err)
	}
	set := Set{a, b}
	defer set.Close()
	if got := set.Names(); got != "a:b" {
		t.Fatalf("Names() = %q", got)
	}
	if fds := set.Fds(); len(fds) != 2 || fds[0] != a.Fd() || fds[1] != b.Fd() {
		t.Fatalf("Fds() = %v", fds)
	}
}

func TestOpenGroups(t *testing.T) {
	specs := []Spec{
		{Name: "web", Network: "tcp", Address: "127.0.0.1:0"},
		{Name: "sock", Network: "unix", Address: filepath.Join(t.TempDir(), "s.sock")},
	}
	shared, err := OpenGroups(specs, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range shared {
		if shared[i][0] != shared[0][0] || shared[i][1] != shared[0][1] {
			t.Fatalf("shared groups: slot %d got its own socket", i)
		}
	}
	shared.Close()

	groups, err := OpenGroups(specs, 3, Options{ReusePort: true, Unsteered: true})
	if err != nil {
		t.Fatal(err)
	}
	defer groups.Close()
	addr := groups[0][0].BoundAddress()
	for i, set := range groups {
		if set[0].BoundAddress() != addr {
			t.Fatalf("slot %d bound %s, want the group's %s", i, set[0].BoundAddress(), addr)
		}
		if i > 0 && set[0] == groups[0][0] {
			t.Fatalf("reuseport: slot %d shares slot 0's TCP socket", i)
		}
		if set[1] != groups[0][1] {
			t.Fatalf("reuseport: slot %d got its own unix socket; Linux does not balance those", i)
		}
	}
}

func TestGroupsGrowShrink(t *testing.T) {
	specs := []Spec{{Name: "web", Network: "tcp", Address: "127.0.0.1:0"}}
	for _, reuse := range []bool{false, true} {
		g, err := OpenGroups(specs, 1, Options{ReusePort: reuse, Unsteered: true})
		if err != nil {
			t.Fatal(err)
		}
		if g, err = g.Grow(); err != nil {
			t.Fatal(err)
		}
		added := g[1][0]
		if shared := added == g[0][0]; shared == reuse {
			t.Fatalf("reuseport=%v: grown slot shares slot 0's socket: %v", reuse, shared)
		}
		if added.BoundAddress() != g[0][0].BoundAddress() {
			t.Fatalf("grown slot bound %s, want %s", added.BoundAddress(), g[0][0].BoundAddress())
		}
		g, own := g.Shrink()
		if len(g) != 1 || g[0][0].Fd() < 0 {
			t.Fatalf("reuseport=%v: Shrink closed slot 0's socket or kept the slot", reuse)
		}
		if reuse != (len(own) == 1 && own[0] == added && added.Fd() >= 0) {
			t.Fatalf("reuseport=%v: Shrink returned %v as the dropped slot's own open sockets", reuse, own)
		}
		own.Close()
		g.Close()
	}
}

// TestFromFdKeepsTheMode: an adopted socket (from systemd, or from the
// master before an upgrade) keeps the blocking mode it came with, since the
// running workers share its description and chose that mode.
func TestFromFdKeepsTheMode(t *testing.T) {
	for _, nonblocking := range []bool{false, true} {
		s, err := Open(Spec{Name: "web", Network: "tcp", Address: "127.0.0.1:0"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Dup(s.Fd())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := unix.SetNonblock(fd, nonblocking); err != nil {
			t.Fatal(err)
		}
		adopted, err := FromFd(Spec{Name: "web", Network: "tcp", Address: "127.0.0.1:0"}, fd)
		if err != nil {
			t.Fatal(err)
		}
		if got := fdFlags(t, adopted.Fd())&unix.O_NONBLOCK != 0; got != nonblocking {
			t.Errorf("adopted a socket with O_NONBLOCK %v, it now has %v", nonblocking, got)
		}
		adopted.Close()
	}
}
