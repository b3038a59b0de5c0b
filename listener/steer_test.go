package listener

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

// dialAndCount opens conns connections to addr, keeps them open, and
// returns how many more wait in each socket's accept queue than before.
func dialAndCount(t *testing.T, addr string, sockets Set, conns int) []int {
	t.Helper()
	before := queued(t, sockets)
	for range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	after := queued(t, sockets)
	for i := range after {
		after[i] -= before[i]
	}
	return after
}

func queued(t *testing.T, sockets Set) []int {
	t.Helper()
	counts := make([]int, len(sockets))
	for i, s := range sockets {
		n, err := Set{s}.Queued()
		if err != nil {
			t.Fatal(err)
		}
		counts[i] = n
	}
	return counts
}

// TestSteerSkipsOffSlots: with real sockets, connections spread over the
// slots that are on and never reach one that is off, also after a member
// in the middle of the group closed and the kernel moved the last one into
// its place.
func TestSteerSkipsOffSlots(t *testing.T) {
	if err := SteeringError(); err != nil {
		t.Skipf("this kernel does not steer: %v", err)
	}
	g, err := OpenGroups([]Spec{{Name: "web", Network: "tcp", Address: "127.0.0.1:0"}}, 4, Options{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	addr := g[0][0].BoundAddress()
	sockets := Set{g[0][0], g[1][0], g[2][0], g[3][0]}
	for i, s := range sockets {
		if s.Mode() != Steered {
			t.Fatalf("slot %d: mode %s (%s), want %s", i, s.Mode(), s.ModeReason(), Steered)
		}
	}
	check := func(on []bool, sockets Set, counts []int) {
		t.Helper()
		for i, n := range counts {
			if on[i] && n == 0 || !on[i] && n != 0 {
				t.Errorf("on=%v: slot %d (on=%v) got %d connections; all: %v", on, i, on[i], n, counts)
			}
		}
	}
	for _, on := range [][]bool{{true, false, true, false}, {false, true, true, true}, {true, true, true, true}} {
		if err := g.Steer(on); err != nil {
			t.Fatal(err)
		}
		check(on, sockets, dialAndCount(t, addr, sockets, 120))
	}
	// No slot on: connections spread over every slot's socket.
	if err := g.Steer([]bool{false, false, false, false}); err != nil {
		t.Fatal(err)
	}
	check([]bool{true, true, true, true}, sockets, dialAndCount(t, addr, sockets, 120))

	// Slot 1's socket closes: the kernel moves slot 3's socket into its
	// place in the array, and the mirror must follow.
	g[1][0].Close()
	rest := Groups{g[0], g[2], g[3]}
	left := Set{g[0][0], g[2][0], g[3][0]}
	for _, on := range [][]bool{{false, true, false}, {true, false, true}, {false, false, true}} {
		if err := rest.Steer(on); err != nil {
			t.Fatal(err)
		}
		check(on, left, dialAndCount(t, addr, left, 90))
	}
}

// TestSteerOneSlot: a group of one socket has nothing to steer, and a slot
// grown later joins the group off until the next Steer.
func TestSteerOneSlot(t *testing.T) {
	if err := SteeringError(); err != nil {
		t.Skipf("this kernel does not steer: %v", err)
	}
	g, err := OpenGroups([]Spec{{Name: "web", Network: "tcp", Address: "127.0.0.1:0"}}, 1, Options{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { g.Close() }()
	if err := g.Steer([]bool{false}); err != nil {
		t.Fatalf("one slot: %v", err)
	}
	if g, err = g.Grow(); err != nil {
		t.Fatal(err)
	}
	if g[1][0] == g[0][0] || g[1][0].Mode() != Steered {
		t.Fatalf("grown slot: shared socket or mode %s", g[1][0].Mode())
	}
	if err := g.Steer([]bool{false, true}); err != nil {
		t.Fatal(err)
	}
	counts := dialAndCount(t, g[0][0].BoundAddress(), Set{g[0][0], g[1][0]}, 60)
	if counts[0] != 0 || counts[1] != 60 {
		t.Fatalf("slot 0 off, slot 1 on: %v", counts)
	}
	if err := g.Steer([]bool{true}); err == nil {
		t.Fatal("Steer took fewer values than slots")
	}
}

// TestSharedWhenAsked: without ReusePort every slot shares one socket and
// says so.
func TestSharedWhenAsked(t *testing.T) {
	g, err := OpenGroups([]Spec{{Name: "web", Network: "tcp", Address: "127.0.0.1:0"}}, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g[1][0] != g[0][0] || g[0][0].Mode() != Shared || reusePortSet(g[0][0].Fd()) {
		t.Fatalf("want one shared socket without SO_REUSEPORT, got mode %s", g[0][0].Mode())
	}
	if err := g.Steer([]bool{true, false}); err != nil {
		t.Fatalf("steering shared sockets is a no-op: %v", err)
	}
}

// TestProgramChoosesOnlyOnSockets runs the steering program in
// golang.org/x/net/bpf's VM, with the hash taken from the packet instead
// of the kernel's extensions (which the VM lacks): every hash maps to a
// socket that is on, and each gets its share. This runs where the kernel
// refuses SO_ATTACH_REUSEPORT_CBPF too.
func TestProgramChoosesOnlyOnSockets(t *testing.T) {
	fromPacket := []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 4}}
	for _, indexes := range [][]uint32{{0}, {1, 3}, {0, 2, 3}, {4, 0, 7, 2, 5}} {
		vm, err := bpf.NewVM(choose(fromPacket, indexes))
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint32]int{}
		const conns = 10000
		for hash := range uint32(conns) {
			h := hash * 2654435761 // spread like a real hash
			index, err := vm.Run([]byte{byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)})
			if err != nil {
				t.Fatal(err)
			}
			got[uint32(index)]++
		}
		for index, n := range got {
			if !slices.Contains(indexes, index) {
				t.Errorf("on %v: %d connections to socket %d, which is off", indexes, n, index)
			}
		}
		for _, index := range indexes {
			if share := float64(got[index]) * float64(len(indexes)) / conns; share < 0.9 || share > 1.1 {
				t.Errorf("on %v: socket %d got %d connections, %.2f of an even share", indexes, index, got[index], share)
			}
		}
	}
	if _, err := program(make([]uint32, maxSteered)); err != nil {
		t.Fatalf("the largest program does not assemble: %v", err)
	}
}

// TestGroupMirrorsKernelOrder: a closed member's place goes to the last
// one, as in the kernel's reuseport_detach_sock.
func TestGroupMirrorsKernelOrder(t *testing.T) {
	socks := []*Socket{{fd: -1}, {fd: -1}, {fd: -1}, {fd: -1}}
	group := &reuseGroup{}
	for _, s := range socks {
		group.join(s)
	}
	group.leave(socks[1])
	if want := []*Socket{socks[0], socks[3], socks[2]}; !slices.Equal(group.members, want) {
		t.Fatalf("after the second left: %v, want %v", group.members, want)
	}
	group.leave(socks[2])
	if want := []*Socket{socks[0], socks[3]}; !slices.Equal(group.members, want) {
		t.Fatalf("after the last left: %v, want %v", group.members, want)
	}
}

// TestFallbackWhereSteeringIsRefused: where the kernel refuses steering,
// the default shares one socket (without SO_REUSEPORT) and says why, and
// Unsteered keeps one hashed socket per slot.
func TestFallbackWhereSteeringIsRefused(t *testing.T) {
	refused := SteeringError()
	if refused == nil {
		t.Skip("this kernel steers: no fallback to see")
	}
	specs := []Spec{{Name: "web", Network: "tcp", Address: "127.0.0.1:0"}}
	g, err := OpenGroups(specs, 2, Options{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	s := g[0][0]
	if g[1][0] != s || s.Mode() != Shared || reusePortSet(s.Fd()) || !strings.Contains(s.ModeReason(), refused.Error()) {
		t.Fatalf("want one shared socket without SO_REUSEPORT saying %q; got mode %s, reason %q", refused, s.Mode(), s.ModeReason())
	}
	u, err := OpenGroups(specs, 2, Options{ReusePort: true, Unsteered: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u[1][0] == u[0][0] || u[0][0].Mode() != ReusePort || u[1][0].ModeReason() == "" {
		t.Fatalf("Unsteered: want a socket per slot in mode %s with a reason, got %s %q", ReusePort, u[0][0].Mode(), u[1][0].ModeReason())
	}
	if err := u.Steer([]bool{true, false}); err != nil {
		t.Fatalf("Steer on an unsteered group is a no-op: %v", err)
	}
}
