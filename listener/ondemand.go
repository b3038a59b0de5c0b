package listener

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// OnDemand is a set of TCP sockets opened when first asked for, one per
// address, and kept until Close: what Node workers' listen(port) calls get
// from the master, as from Node's cluster primary (docs/design.md §21).
// The master binds for the workers, so it refuses what they could not bind
// themselves. It has one owner (an app's event loop): no locking.
type OnDemand struct {
	max int
	// uid is the workers' user: a privileged port is theirs only as root.
	uid     uint32
	sockets map[string]*Socket
}

// NewOnDemand holds at most max addresses for workers running as uid,
// starting with adopted (an old master's, in an upgrade).
func NewOnDemand(max int, uid uint32, adopted Set) *OnDemand {
	o := &OnDemand{max: max, uid: uid, sockets: make(map[string]*Socket, len(adopted))}
	for _, s := range adopted {
		o.sockets[s.Spec.Address] = s
	}
	return o
}

// Get is the socket for host:port, opened on the first request (opened
// says so). host "" is every address, dual-stack, as Node's default. Errors
// wrap the errno a bind of the worker's own would have got.
func (o *OnDemand) Get(host string, port int) (s *Socket, opened bool, err error) {
	if port < 0 || port > 65535 {
		return nil, false, fmt.Errorf("port %d is not from 0 to 65535: %w", port, unix.EINVAL)
	}
	if host != "" && net.ParseIP(host) == nil {
		return nil, false, fmt.Errorf("host %q is not an IP address: %w", host, unix.EINVAL)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if s := o.sockets[addr]; s != nil {
		return s, false, nil
	}
	if len(o.sockets) >= o.max {
		return nil, false, fmt.Errorf("the app's workers asked for more than %d addresses: %w", o.max, unix.EMFILE)
	}
	if port != 0 && port < unprivilegedPortStart() && o.uid != 0 {
		return nil, false, fmt.Errorf("port %d is privileged and the workers run as uid %d: %w", port, o.uid, unix.EACCES)
	}
	spec := Spec{Name: "node" + strconv.Itoa(len(o.sockets)), Network: "tcp", Address: addr}
	// Non-blocking: Node serves a handle from its IPC channel in the mode
	// it came in (see Options.NonBlocking).
	if s, err = Open(spec, Options{NonBlocking: true}); err != nil {
		return nil, false, err
	}
	o.sockets[addr] = s
	return s, true, nil
}

// Set is the sockets in a stable order, for a handoff.
func (o *OnDemand) Set() Set {
	set := make(Set, 0, len(o.sockets))
	for _, s := range o.sockets {
		set = append(set, s)
	}
	slices.SortFunc(set, func(a, b *Socket) int { return strings.Compare(a.Spec.Address, b.Spec.Address) })
	return set
}

// Addresses are the addresses bound, with the real ports.
func (o *OnDemand) Addresses() []string { return o.Set().Addresses() }

// Close closes every socket.
func (o *OnDemand) Close() {
	for _, s := range o.sockets {
		s.Close()
	}
}

// unprivilegedPortStart is the lowest port any user may bind (1024 unless
// the administrator changed it).
func unprivilegedPortStart() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return 1024
}
