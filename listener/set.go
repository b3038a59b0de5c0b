package listener

import (
	"errors"
	"strings"
)

// Set is the list of sockets a worker receives, in fd order (3, 4, ...).
type Set []*Socket

// OpenAll opens every spec, closing what it opened if one fails.
func OpenAll(specs []Spec, opts Options) (Set, error) {
	set := make(Set, 0, len(specs))
	for _, spec := range specs {
		s, err := Open(spec, opts)
		if err != nil {
			set.Close()
			return nil, err
		}
		set = append(set, s)
	}
	return set, nil
}

// Fds lists the descriptors in order.
func (set Set) Fds() []int {
	fds := make([]int, len(set))
	for i, s := range set {
		fds[i] = s.fd
	}
	return fds
}

// Names is the LISTEN_FDNAMES value: names in fd order, ':'-separated.
func (set Set) Names() string {
	names := make([]string, len(set))
	for i, s := range set {
		names[i] = s.Name
	}
	return strings.Join(names, ":")
}

// Close closes every socket (and removes unix socket paths).
func (set Set) Close() error {
	var err error
	for _, s := range set {
		err = errors.Join(err, s.Close())
	}
	return err
}

// Release releases every socket (see Socket.Release): a new master serves
// them now.
func (set Set) Release() {
	for _, s := range set {
		s.Release()
	}
}

// Addresses are the sockets' bound addresses, in fd order.
func (set Set) Addresses() []string {
	addrs := make([]string, len(set))
	for i, s := range set {
		addrs[i] = s.BoundAddress()
	}
	return addrs
}

// Modes say how each socket is served, for status: its Mode, and after a
// colon why it is not steered where that was wanted.
func (set Set) Modes() []string {
	modes := make([]string, len(set))
	for i, s := range set {
		modes[i] = string(s.Mode())
		if why := s.ModeReason(); why != "" {
			modes[i] += ": " + why
		}
	}
	return modes
}
