package listener

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
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

// TestOnDemandOpensOnceAndRefusesWhatWorkersCouldNot: the workers'
// listen() of one address shares one socket (the second request gets the
// same port 0 binding, not a new one); what a worker could not bind itself,
// or could only abuse, is refused with the errno Node would report.
func TestOnDemandOpensOnceAndRefusesWhatWorkersCouldNot(t *testing.T) {
	const max = 16
	o := NewOnDemand(max, 0, nil)
	defer o.Close()
	first, opened, err := o.Get("127.0.0.1", 0)
	if err != nil || !opened {
		t.Fatalf("first request: opened %v, %v", opened, err)
	}
	second, opened, err := o.Get("127.0.0.1", 0)
	if err != nil || opened || second != first {
		t.Fatalf("second request of the same address: opened %v, same socket %v, %v", opened, second == first, err)
	}
	if got := o.Addresses(); len(got) != 1 || got[0] != first.BoundAddress() {
		t.Errorf("addresses %v, want [%s]", got, first.BoundAddress())
	}
	// Node serves a handle from its IPC channel in the mode it came in:
	// a blocking one would stall its event loop in accept().
	if fdFlags(t, first.Fd())&unix.O_NONBLOCK == 0 {
		t.Errorf("the socket for Node workers is blocking")
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
		if _, _, err := o.Get(tc.host, tc.port); !errors.Is(err, tc.errno) {
			t.Errorf("listen(%d, %q): %v, want %v", tc.port, tc.host, err, tc.errno)
		}
	}
	nobody := NewOnDemand(max, 65534, nil)
	if _, _, err := nobody.Get("127.0.0.1", 80); !errors.Is(err, unix.EACCES) {
		t.Errorf("listen(80) for workers running as nobody: %v, want EACCES", err)
	}

	for i := len(o.Set()); i < max; i++ {
		if _, _, err := o.Get("127.0.0."+strconv.Itoa(i+2), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := o.Get("127.0.0.99", 0); !errors.Is(err, unix.EMFILE) {
		t.Errorf("address %d: %v, want EMFILE (at most %d per app)", max+1, err, max)
	}
	if _, _, err := o.Get("127.0.0.3", 0); err != nil {
		t.Errorf("an address already open must still be answered at the limit: %v", err)
	}
}

// TestOnDemandSocketsSurviveTheHandoff: what an upgrade sends of the
// workers' sockets comes back as the same addresses in the new master,
// which answers from them instead of opening new ones.
func TestOnDemandSocketsSurviveTheHandoff(t *testing.T) {
	old := NewOnDemand(16, 0, nil)
	for _, host := range []string{"127.0.0.1", "::1"} {
		if _, _, err := old.Get(host, 0); err != nil {
			t.Fatal(err)
		}
	}
	want := old.Addresses()
	carrier, err := Groups{old.Set()}.Send()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(carrier)
	groups, err := Receive(carrier)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	next := NewOnDemand(16, 0, groups[0])
	defer next.Close()
	if got := next.Addresses(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("after the handoff %v, want %v", got, want)
	}
	s, opened, err := next.Get("::1", 0)
	if err != nil || opened || boundPort(t, s.Fd()) == 0 {
		t.Errorf("the new master answers from the handed-over socket: opened %v, %v", opened, err)
	}
	if fdFlags(t, s.Fd())&unix.O_NONBLOCK == 0 {
		t.Errorf("the handed-over socket lost O_NONBLOCK")
	}
}
