package listener

import (
	"errors"
	"fmt"
)

// Groups holds the sockets of every worker slot: Groups[i] is what slot i's
// workers receive.
//
// Shared (the default), every slot gets the same Set: one socket per
// address, one accept queue that outlives every worker.
//
// With ReusePort, every TCP address gets one socket per slot, bound to the
// same address: a SO_REUSEPORT group that the kernel balances by hashing
// each new connection to one socket (DESIGN-NOTES 10). The master holds
// every socket open, so a slot's queue survives its worker's death and is
// served by the replacement, which inherits the same socket: no connection
// is reset. Unix sockets, which Linux does not balance, stay shared.
type Groups []Set

// OpenGroups opens the sockets of n slots.
func OpenGroups(specs []Spec, n int, opts Options) (Groups, error) {
	if n < 1 {
		return nil, fmt.Errorf("listener: need at least one slot, got %d", n)
	}
	first, err := OpenAll(specs, opts)
	if err != nil {
		return nil, err
	}
	groups := make(Groups, n)
	groups[0] = first
	for i := 1; i < n; i++ {
		set := make(Set, len(specs))
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

// Close closes every socket once.
func (g Groups) Close() error {
	var err error
	for _, set := range g {
		err = errors.Join(err, set.Close()) // Close is idempotent for shared sockets
	}
	return err
}
