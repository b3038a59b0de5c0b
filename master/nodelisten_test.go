package master

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/listener"
	"github.com/clusterd/clusterd/notify"
)

func boundPort(t *testing.T, fd int) int {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	t.Fatalf("not a TCP socket: %T", sa)
	return 0
}

// TestNodeListenOpensOnceAndRefusesWhatWorkersCouldNot: the workers'
// listen() of one address shares one socket (the second request gets the
// same port 0 binding, not a new one); what a worker could not bind itself,
// or could only abuse, is refused with the errno Node would report.
func TestNodeListenOpensOnceAndRefusesWhatWorkersCouldNot(t *testing.T) {
	m := &Master{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	m.adoptNodeSockets(nil)
	defer func() {
		for _, s := range m.nodeSockets {
			s.Close()
		}
	}()
	p := &proc{slot: 0, pid: 1}
	ask := func(host string, port int) (int, error) {
		fd, err := m.nodeListen(p, notify.ListenRequest{Host: host, Port: port})
		if err == nil {
			t.Cleanup(func() { unix.Close(fd) })
		}
		return fd, err
	}
	first, err := ask("127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ask("127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := boundPort(t, first), boundPort(t, second); a != b {
		t.Errorf("two workers' listen(0) got ports %d and %d: want one socket for the app", a, b)
	}
	if got := m.nodeAddresses(); len(got) != 1 {
		t.Errorf("addresses %v, want one", got)
	}
	// Node serves a handle from its IPC channel in the mode it came in:
	// a blocking one would stall its event loop in accept().
	if flags, err := unix.FcntlInt(uintptr(first), unix.F_GETFL, 0); err != nil || flags&unix.O_NONBLOCK == 0 {
		t.Errorf("the socket for a Node worker is blocking (flags %#o, %v)", flags, err)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		host  string
		port  int
		errno syscall.Errno
	}{
		{"127.0.0.1", 70000, unix.EINVAL},
		{"example.com", 3000, unix.EINVAL}, // names are the preload's to resolve
		{"127.0.0.1", busy.Addr().(*net.TCPAddr).Port, unix.EADDRINUSE},
	} {
		if _, err := ask(tc.host, tc.port); !errors.Is(err, tc.errno) {
			t.Errorf("listen(%d, %q): %v, want %v", tc.port, tc.host, err, tc.errno)
		}
	}

	m.credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	if _, err := ask("127.0.0.1", 80); !errors.Is(err, unix.EACCES) {
		t.Errorf("listen(80) for workers running as nobody: %v, want EACCES", err)
	}
	m.credential = nil

	for i := len(m.nodeSockets); i < maxNodeSockets; i++ {
		if _, err := ask("127.0.0."+strconv.Itoa(i+2), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ask("127.0.0.99", 0); !errors.Is(err, unix.EMFILE) {
		t.Errorf("address %d: %v, want EMFILE (at most %d per app)", maxNodeSockets+1, err, maxNodeSockets)
	}
	if _, err := ask("127.0.0.3", 0); err != nil {
		t.Errorf("an address already open must still be answered at the limit: %v", err)
	}
}

// TestNodeSocketsSurviveTheHandoff: what an upgrade sends of the workers'
// sockets comes back as the same addresses in the new master.
func TestNodeSocketsSurviveTheHandoff(t *testing.T) {
	m := &Master{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	m.adoptNodeSockets(nil)
	for _, host := range []string{"127.0.0.1", "::1"} {
		fd, err := m.nodeListen(&proc{}, notify.ListenRequest{Host: host})
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	}
	want := m.nodeAddresses()
	carrier, err := listener.Groups{m.nodeSocketSet()}.Send()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(carrier)
	groups, err := listener.Receive(carrier)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.nodeSockets {
		s.Close()
	}
	next := &Master{}
	next.adoptNodeSockets(groups[0])
	defer func() {
		for _, s := range next.nodeSockets {
			s.Close()
		}
	}()
	if got := next.nodeAddresses(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("after the handoff %v, want %v", got, want)
	}
	if fd, err := next.nodeListen(&proc{}, notify.ListenRequest{Host: "::1"}); err != nil || boundPort(t, fd) == 0 {
		t.Errorf("the new master answers from the handed-over socket: %v", err)
	} else {
		unix.Close(fd)
	}
	if len(next.nodeSockets) != 2 {
		t.Errorf("the new master opened another socket instead of the handed-over one: %d", len(next.nodeSockets))
	}
}
