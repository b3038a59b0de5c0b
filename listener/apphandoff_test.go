package listener

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAppHandoffRoundTrip: what an app offers is what the new process
// takes back: its sockets, its control socket and its Node sockets.
func TestAppHandoffRoundTrip(t *testing.T) {
	groups, err := OpenApp(AppSockets{Listen: []string{"127.0.0.1:0"}, Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer groups.Close()
	node, err := Open(Spec{Name: "node", Network: "tcp", Address: "127.0.0.1:0"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	control, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "c.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer control.Close()

	passed := map[string]*os.File{}
	offer := func(name string, fd int) error {
		dup, err := unix.Dup(fd)
		passed[name] = os.NewFile(uintptr(dup), name)
		return err
	}
	if err := (AppHandoff{Sockets: groups, Control: control, NodeSockets: Set{node}}).Offer(offer); err != nil {
		t.Fatal(err)
	}
	h, err := TakeAppHandoff(func(name string) (*os.File, error) { return passed[name], nil })
	if err != nil {
		t.Fatal(err)
	}
	defer h.Sockets.Close()
	defer h.Control.Close()
	defer h.NodeSockets.Close()
	if len(h.Sockets) != 2 || h.Sockets[0][0].BoundAddress() != groups[0][0].BoundAddress() ||
		len(h.NodeSockets) != 1 || h.NodeSockets[0].BoundAddress() != node.BoundAddress() {
		t.Fatalf("took %v and %v back", h.Sockets, h.NodeSockets)
	}

	if h, err := TakeAppHandoff(func(string) (*os.File, error) { return nil, nil }); h != nil || err != nil {
		t.Fatalf("nothing passed: got %v, %v", h, err)
	}
}
