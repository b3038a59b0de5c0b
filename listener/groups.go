package listener

import (
	"errors"
	"fmt"
	"strconv"
)

// Groups holds the sockets of every worker slot: Groups[i] is what slot i's
// workers receive.
//
// Shared (the default), every slot gets the same Set: one socket per
// address, one accept queue that outlives every worker.
//
// With ReusePort, every TCP address gets one socket per slot, bound to the
// same address: a SO_REUSEPORT group that the kernel balances by hashing
// each new connection to one socket (docs/design.md §10). The master holds
// every socket open, so a slot's queue survives its worker's death and is
// served by the replacement, which inherits the same socket: no connection
// is reset. Unix sockets, which Linux does not balance, stay shared.
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
			s, err := Open(spec, opts)
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
	var err error
	groups := make(Groups, n)
	groups[0] = first
	for i := 1; i < n; i++ {
		set := make(Set, len(first)) // not len(specs): without -l, first is every inherited socket
		for j, s := range first {
			if !opts.ReusePort || s.Network != "tcp" {
				set[j] = s
				continue
			}
			// The first socket's real address, so ":0" resolves once.
			spec := s.Spec
			spec.Address = s.BoundAddress()
			if set[j], err = Open(spec, opts); err != nil {
				groups.Close()
				set[:j].Close()
				return nil, err
			}
		}
		groups[i] = set
	}
	return groups, nil
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

// Grow adds the sockets of one more slot: slot 0's shared sockets, and
// with ReusePort new members of each TCP group.
func (g Groups) Grow(opts Options) (Groups, error) {
	set := make(Set, len(g[0]))
	for j, s := range g[0] {
		if !opts.ReusePort || s.Network != "tcp" {
			set[j] = s
			continue
		}
		spec := s.Spec
		spec.Address = s.BoundAddress()
		var err error
		if set[j], err = Open(spec, opts); err != nil {
			for _, own := range set[:j] {
				if own.Network == "tcp" {
					own.Close()
				}
			}
			return g, err
		}
	}
	return append(g, set), nil
}

// Shrink drops the last slot and closes the sockets only it held. Closing
// a member of a SO_REUSEPORT group resets the connections waiting in its
// queue unless net.ipv4.tcp_migrate_req is 1 (then the kernel moves them
// to the other members); the caller warns.
func (g Groups) Shrink() Groups {
	if len(g) < 2 {
		return g
	}
	last := g[len(g)-1]
	for j, s := range last {
		if s != g[0][j] {
			s.Close()
		}
	}
	return g[:len(g)-1]
}
