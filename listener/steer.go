package listener

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Steering a SO_REUSEPORT group (docs/design.md §10): the kernel hashes a
// new connection to one socket of the group, and a slot whose worker died
// or is being replaced would keep getting its share, queued until the
// successor is ready. A classic BPF program attached with
// SO_ATTACH_REUSEPORT_CBPF chooses instead: it returns an index into the
// group's socket array, and the program is rebuilt with the indexes of the
// slots that are on. Classic BPF needs no privilege and no eBPF toolchain.
//
// The index is the socket's place in the kernel's array, not its slot:
// sockets are appended when they start listening, and when one closes the
// last takes its place. reuseGroup mirrors that array. A socket leaves it
// when this process closes it, which is when the kernel removes it only if
// no worker holds it any more: close a slot's sockets after its worker
// exited (the master does), or the mirror runs ahead of the kernel until
// the worker's copy closes too.

// Mode says how a TCP address is served.
type Mode string

const (
	// Shared: one socket for every slot (docs/design.md §1).
	Shared Mode = "shared"
	// Steered: one SO_REUSEPORT socket per slot, steered away from slots
	// that are off (docs/design.md §10).
	Steered Mode = "reuseport+steering"
	// ReusePort: one SO_REUSEPORT socket per slot, spread by the kernel's
	// hash alone, where steering is refused and Options.Unsteered allowed
	// it: a slot's share waits in its queue while it has no worker.
	ReusePort Mode = "reuseport"
)

// maxSteered is how many sockets one program can choose among: classic BPF
// programs have at most 4096 instructions and the program takes two per
// socket. A larger cluster shares one socket per address.
const maxSteered = 2000

// reuseGroup mirrors one SO_REUSEPORT group's socket array.
type reuseGroup struct {
	members []*Socket // in the kernel's order
	steered bool      // false: the kernel refused steering, it hashes
	why     string    // why not steered
	// attached is the index list of the program last attached (nil: none).
	attached []uint32
}

func (r *reuseGroup) join(s *Socket) {
	r.members = append(r.members, s)
	s.group = r
}

// leave does what the kernel does when a member closes: the last member
// takes its place.
func (r *reuseGroup) leave(s *Socket) {
	i := slices.Index(r.members, s)
	if i < 0 {
		return
	}
	last := len(r.members) - 1
	r.members[i] = r.members[last]
	r.members = r.members[:last]
	r.attached = nil // indexes moved: the next Steer attaches again
}

// SteeringError says why this kernel refuses to steer a SO_REUSEPORT group
// (nil: it steers). It is checked once per process, on a loopback socket.
func SteeringError() error { return steeringProbe() }

var steeringProbe = sync.OnceValue(func() error {
	s, err := Open(Spec{Name: "probe", Network: "tcp", Address: "127.0.0.1:0"}, Options{ReusePort: true})
	if err != nil {
		return fmt.Errorf("no SO_REUSEPORT socket on loopback: %w", err)
	}
	defer s.Close()
	return attach(s.fd, []uint32{0})
})

// Steer attaches, to every steered group, a program that spreads new
// connections over the sockets of the slots that are on: on[slot] for each
// slot of g. When no slot is on, connections spread over every slot (they
// wait in the queues for the next workers). A group of one socket has
// nothing to steer.
func (g Groups) Steer(on []bool) error {
	if len(on) != len(g) {
		return fmt.Errorf("listener: steer: %d slots, %d on/off values", len(g), len(on))
	}
	if len(g) == 0 {
		return nil
	}
	var errs error
	for j, first := range g[0] {
		group := first.group
		if group == nil || !group.steered || len(group.members) < 2 {
			continue
		}
		slotOn := make(map[*Socket]bool, len(g))
		for i, set := range g {
			slotOn[set[j]] = on[i]
		}
		var indexes, every []uint32
		for k, member := range group.members {
			if isOn, inSlot := slotOn[member]; inSlot {
				every = append(every, uint32(k))
				if isOn {
					indexes = append(indexes, uint32(k))
				}
			}
		}
		if len(indexes) == 0 {
			indexes = every
		}
		if len(indexes) == 0 || slices.Equal(indexes, group.attached) {
			continue
		}
		if err := attach(group.members[0].fd, indexes); err != nil {
			errs = errors.Join(errs, fmt.Errorf("listener: steer %s: %w", first.Spec.String(), err))
			continue
		}
		group.attached = indexes
	}
	return errs
}

// program returns one of indexes for each new connection: the packet's
// hash (the NIC's, or on loopback the client socket's random one) modulo
// their count, or a random number when the packet carries no hash.
func program(indexes []uint32) ([]bpf.RawInstruction, error) {
	return bpf.Assemble(choose(connectionHash, indexes))
}

// connectionHash loads a number that spreads connections evenly.
var connectionHash = []bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtRXHash},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 1},
	bpf.LoadExtension{Num: bpf.ExtRand},
}

// choose is the program with hash as the way to load the number it maps
// onto indexes; a test loads it from the packet instead, to run the
// program in golang.org/x/net/bpf's VM.
func choose(hash []bpf.Instruction, indexes []uint32) []bpf.Instruction {
	n := uint32(len(indexes))
	insns := append(slices.Clip(hash), bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: n})
	for k, index := range indexes[:n-1] {
		insns = append(insns,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(k), SkipFalse: 1},
			bpf.RetConstant{Val: index})
	}
	return append(insns, bpf.RetConstant{Val: indexes[n-1]})
}

func attach(fd int, indexes []uint32) error {
	if len(indexes) > maxSteered {
		return fmt.Errorf("%d sockets in one group, at most %d can be steered", len(indexes), maxSteered)
	}
	raw, err := program(indexes)
	if err != nil {
		return err
	}
	// bpf.RawInstruction and unix.SockFilter are both struct sock_filter.
	filter := (*unix.SockFilter)(unsafe.Pointer(&raw[0]))
	err = unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
		&unix.SockFprog{Len: uint16(len(raw)), Filter: filter})
	if err != nil {
		return fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF: %w", err)
	}
	return nil
}

// Queued is how many connections wait in the accept queues of set's TCP
// sockets: for a listening socket, TCP_INFO's unacked field is the queue's
// length.
func (set Set) Queued() (int, error) {
	total := 0
	for _, s := range set {
		if s.Network != "tcp" || s.fd < 0 {
			continue
		}
		info, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return total, fmt.Errorf("listener: queue of %s: %w", s.Spec.String(), err)
		}
		total += int(info.Unacked)
	}
	return total, nil
}
