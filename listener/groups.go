package listener

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Groups holds the sockets of every worker slot: Groups[i] is what slot i's
// workers receive.
//
// Shared, every slot gets the same Set: one socket per address, one accept
// queue that outlives every worker (docs/design.md §1).
//
// With ReusePort, every TCP address gets one socket per slot, bound to the
// same address: a SO_REUSEPORT group whose connections are spread over the
// slots by the kernel, steered away from the slots that are off
// (docs/design.md §10, Steer). The master holds every socket open, so a
// slot's queue survives its worker's death and is served by the
// replacement, which inherits the same socket: no connection is reset.
// Unix sockets, which Linux does not balance, stay shared, and so does an
// address where the kernel refuses SO_REUSEPORT or steering.
type Groups []Set

// OpenGroups opens the sockets of n slots.
func OpenGroups(specs []Spec, n int, opts Options) (Groups, error) {
	return OpenGroupsWith(nil, specs, n, opts)
}

// OpenGroupsWith is OpenGroups for a process started by socket activation:
// a spec whose name matches an inherited socket's uses it instead of
// binding (see adoptable), and without specs every inherited socket is
// used. Inherited sockets no spec names are closed: nothing would serve them.
func OpenGroupsWith(inherited []*Socket, specs []Spec, n int, opts Options) (Groups, error) {
	if n < 1 {
		return nil, fmt.Errorf("listener: need at least one slot, got %d", n)
	}
	open := opts
	if opts.ReusePort && !opts.Unsteered && SteeringError() != nil {
		open.ReusePort = false // shared: no other process may join the address
	}
	var first Set
	if len(specs) == 0 {
		first = inherited
	} else {
		unused := append([]*Socket(nil), inherited...)
		for _, spec := range specs {
			if i := adoptable(unused, spec); i >= 0 {
				first = append(first, unused[i])
				unused[i] = nil
				continue
			}
			s, err := Open(spec, open)
			if err != nil {
				first.Close()
				return nil, err
			}
			first = append(first, s)
		}
		for _, s := range unused {
			if s != nil {
				s.Release()
			}
		}
	}
	if len(first) == 0 {
		return nil, fmt.Errorf("listener: no socket to serve")
	}
	groups := make(Groups, n)
	for i := range groups {
		groups[i] = make(Set, len(first)) // not len(specs): without -l, first is every inherited socket
	}
	for j, s := range first {
		for i := range groups {
			groups[i][j] = s
		}
		if opts.ReusePort && s.Network == "tcp" {
			groups.spread(j, opts.Unsteered)
		}
	}
	every := make([]bool, n)
	for i := range every {
		every[i] = true
	}
	if err := groups.Steer(every); err != nil {
		for j, s := range groups[0] {
			if s.group == nil || !s.group.steered || s.group.attached != nil || len(s.group.members) < 2 {
				continue
			}
			if opts.Unsteered {
				s.group.steered, s.group.why = false, err.Error()
			} else {
				groups.share(j, err.Error())
			}
		}
	}
	return groups, nil
}

// spread gives every slot its own SO_REUSEPORT socket for address j,
// steered where the kernel allows it. Otherwise the address stays shared,
// and says why, unless unsteered groups are allowed.
func (g Groups) spread(j int, unsteered bool) {
	first := g[0][j]
	steerErr := SteeringError()
	switch {
	case !first.owned:
		first.sharedWhy = "an inherited socket is served as it was given"
		return
	case !reusePortSet(first.fd):
		first.sharedWhy = "the kernel refuses SO_REUSEPORT"
		if steerErr != nil {
			first.sharedWhy = "the kernel refuses steering: " + steerErr.Error()
		}
		return
	case steerErr != nil && !unsteered:
		first.sharedWhy = "the kernel refuses steering: " + steerErr.Error()
		return
	case len(g) > maxSteered && !unsteered:
		first.sharedWhy = fmt.Sprintf("more than %d slots cannot be steered", maxSteered)
		return
	}
	group := &reuseGroup{steered: steerErr == nil}
	if steerErr != nil {
		group.why = "the kernel refuses steering: " + steerErr.Error()
	}
	group.join(first)
	for i := 1; i < len(g); i++ {
		s, err := openMember(first)
		if err != nil {
			g.share(j, err.Error())
			return
		}
		group.join(s)
		g[i][j] = s
	}
}

// openMember opens one more socket of first's SO_REUSEPORT group, bound to
// first's real address, so ":0" resolves once.
func openMember(first *Socket) (*Socket, error) {
	spec := first.Spec
	spec.Address = first.BoundAddress()
	return Open(spec, Options{ReusePort: true})
}

// share falls back to slot 0's socket for address j in every slot, closing
// the others, and records why.
func (g Groups) share(j int, why string) {
	first := g[0][j]
	for _, set := range g[1:] {
		if set[j] != nil && set[j] != first {
			set[j].Close()
		}
		set[j] = first
	}
	if first.group != nil {
		first.group.leave(first)
		first.group = nil
	}
	first.sharedWhy = why
}

func reusePortSet(fd int) bool {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT)
	return err == nil && v == 1
}

// adoptable returns the position of the first inherited socket spec names, or
// -1. An unnamed ("unknown") socket at position i also answers to the name
// Parse gives the i-th -l without one, "listen<i>": under
// `systemd-socket-activate -l :80 clusterd -l :80` the master serves the
// socket it was given instead of failing to bind :80 again.
func adoptable(inherited []*Socket, spec Spec) int {
	for i, s := range inherited {
		if s != nil && (s.Name == spec.Name || s.Name == unnamed && spec.Name == "listen"+strconv.Itoa(i)) {
			return i
		}
	}
	return -1
}

// Close closes every socket once.
func (g Groups) Close() error {
	var err error
	for _, set := range g {
		err = errors.Join(err, set.Close()) // Close is idempotent for shared sockets
	}
	return err
}

// Release releases every slot's sockets (Release is idempotent for shared
// sockets).
func (g Groups) Release() {
	for _, set := range g {
		set.Release()
	}
}

// Grow adds the sockets of one more slot: slot 0's shared sockets, and a
// new member of each steered group. The new slot is off until the next
// Steer.
func (g Groups) Grow() (Groups, error) {
	set := make(Set, len(g[0]))
	for j, s := range g[0] {
		if s.group == nil {
			set[j] = s
			continue
		}
		own, err := openMember(s)
		if err != nil {
			for _, opened := range set[:j] {
				if opened.group != nil {
					opened.Close()
				}
			}
			return g, err
		}
		s.group.join(own)
		set[j] = own
	}
	return append(g, set), nil
}

// Shrink drops the last slot and returns the sockets only it held, still
// open. Closing a member of a SO_REUSEPORT group resets the connections
// waiting in its queue unless net.ipv4.tcp_migrate_req is 1 (then the
// kernel moves them to the other members): steer the slot off, let its
// worker empty the queue (Set.Queued), and close them once the worker has
// exited, so that this process's close is the kernel's too.
func (g Groups) Shrink() (Groups, Set) {
	if len(g) < 2 {
		return g, nil
	}
	var own Set
	last := g[len(g)-1]
	for j, s := range last {
		if s != g[0][j] {
			own = append(own, s)
		}
	}
	return g[:len(g)-1], own
}

// MigratesQueued says whether closing a member of a SO_REUSEPORT group
// moves the connections waiting in its queue to the other members
// (net.ipv4.tcp_migrate_req=1) instead of resetting them.
func MigratesQueued() bool {
	migrate, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	return strings.TrimSpace(string(migrate)) == "1"
}
