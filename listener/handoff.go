package listener

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// Handing every socket to a new master (an upgrade of the master binary):
// Send queues them on one end of a socketpair, with a manifest saying
// what each is; the new process gets the other end and Receive rebuilds the
// same Groups from it.
//
// Why a socketpair instead of handing each socket over by itself:
// tableflip keeps an *os.File of every file it passes, and os.NewFile
// registers a non-blocking socket with the Go poller, so a listening socket
// passed directly would wake the new master on every connection (see
// docs/design.md, "The master never accepts"). The socketpair end sees no
// traffic once read; the sockets it carried arrive as bare descriptors.

// maxFdsPerMessage stays under the kernel's SCM_MAX_FD (253).
const maxFdsPerMessage = 200

// manifest says how the sockets are laid out: the slot count (a scale may
// have changed it since the start), each socket's spec, and which slots
// have sockets of their own.
type manifest struct {
	Instances int    `json:"instances"`
	Specs     []Spec `json:"specs"`
	// Own[slot][i]: slot has its own socket i (ReusePort); otherwise it
	// shares slot 0's. Owned sockets are sent in slot, then spec order.
	Own [][]bool `json:"own"`
	// Modes[i] is how spec i is served (absent from an older master:
	// each slot's own socket hashed, Mode ReusePort).
	Modes []Mode `json:"modes,omitempty"`
}

// Send queues every socket of g on a new socketpair and returns the end to
// hand to the new master; the caller closes it once handed over. g stays
// open: this master serves on until the new one is ready.
func (g Groups) Send() (carrier int, err error) {
	if len(g) == 0 {
		return -1, errors.New("listener: no slots to hand over")
	}
	m := manifest{Instances: len(g)}
	for _, s := range g[0] {
		m.Specs = append(m.Specs, s.Spec)
		m.Modes = append(m.Modes, s.Mode())
	}
	var fds []int
	for slot, set := range g {
		own := make([]bool, len(set))
		for i, s := range set {
			if own[i] = slot == 0 || s != g[0][i]; own[i] {
				fds = append(fds, s.Fd())
			}
		}
		m.Own = append(m.Own, own)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("listener: socketpair: %w", err)
	}
	defer unix.Close(pair[0])
	payload, err := json.Marshal(m)
	if err != nil {
		unix.Close(pair[1])
		return -1, err
	}
	for len(fds) > 0 || payload != nil {
		chunk := fds[:min(len(fds), maxFdsPerMessage)]
		fds = fds[len(chunk):]
		msg := payload
		if msg == nil {
			msg = []byte{0} // every message carries a byte: an empty read is the end
		}
		if err := unix.Sendmsg(pair[0], msg, unix.UnixRights(chunk...), nil, 0); err != nil {
			unix.Close(pair[1])
			return -1, fmt.Errorf("listener: sending sockets: %w", err)
		}
		payload = nil
	}
	return pair[1], nil
}

// Receive reads what Send queued on carrier and rebuilds the Groups. It
// does not close carrier.
func Receive(carrier int) (Groups, error) {
	var m manifest
	var fds []int
	fail := func(err error) (Groups, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("listener: receiving sockets: %w", err)
	}
	buf := make([]byte, 1<<16)
	oob := make([]byte, unix.CmsgSpace(maxFdsPerMessage*4))
	for first := true; ; first = false {
		n, oobn, _, _, err := unix.Recvmsg(carrier, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		// The old master closed its end after sending: an empty read is
		// the end.
		if !first && (err == unix.EAGAIN || (err == nil && n == 0 && oobn == 0)) {
			break
		}
		if err == nil && n == 0 {
			err = errors.New("no manifest")
		}
		if err != nil {
			return fail(err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return fail(err)
		}
		for _, msg := range msgs {
			rights, err := unix.ParseUnixRights(&msg)
			if err != nil {
				return fail(err)
			}
			fds = append(fds, rights...)
		}
		if first {
			if err := json.Unmarshal(buf[:n], &m); err != nil || m.Instances < 1 || len(m.Own) != m.Instances {
				return fail(fmt.Errorf("bad manifest (%v)", err))
			}
		}
	}
	g := make(Groups, 0, m.Instances)
	next := 0
	for slot := range m.Instances {
		set := make(Set, len(m.Specs))
		for i, spec := range m.Specs {
			if slot > 0 && (i >= len(m.Own[slot]) || !m.Own[slot][i]) {
				set[i] = g[0][i]
				continue
			}
			if next >= len(fds) {
				g.Close()
				return fail(fmt.Errorf("%d sockets sent, the manifest names more", len(fds)))
			}
			s, err := FromFd(spec, fds[next])
			if err != nil {
				g.Close()
				return fail(err)
			}
			set[i] = s
			next++
		}
		g = append(g, set)
	}
	for _, fd := range fds[next:] {
		unix.Close(fd) // more than the manifest names: not ours to keep
	}
	for j := range g[0] {
		mode := ReusePort // an older master sends no modes: own sockets were hashed
		if j < len(m.Modes) {
			mode = m.Modes[j]
		}
		hashed := mode == ReusePort && len(g) > 1 && g[1][j] != g[0][j]
		if mode != Steered && !hashed {
			continue
		}
		// The kernel's order is the slots' (they joined in slot order and
		// only the last slot ever leaves), so the mirror is rebuilt from it.
		group := &reuseGroup{steered: mode == Steered}
		for _, set := range g {
			if !slices.Contains(group.members, set[j]) {
				group.join(set[j])
			}
		}
	}
	return g, nil
}

// BareFd duplicates the descriptor of c (a listener or an *os.File) without
// its Fd method, which would switch a shared description to blocking mode
// for every process that holds it (docs/design.md, "Fd() blocks"). The
// duplicate is close-on-exec; the caller owns it.
func BareFd(c syscall.Conn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup := -1
	var dupErr error
	if err := raw.Control(func(fd uintptr) { dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup: %w", dupErr)
	}
	return dup, nil
}
