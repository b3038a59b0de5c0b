package listener

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// AppHandoff is what an old master hands a new one during an upgrade, for
// one app: its sockets, every slot's, its control socket, and the sockets
// its Node workers' listen() calls had it open. Should the new process fail,
// the old one serves on with the same descriptors.
type AppHandoff struct {
	Sockets     Groups
	Control     *net.UnixListener
	NodeSockets Set
}

// Names of what an app hands over, each followed by "/APP" for the process.
const (
	HandoffSockets     = "sockets"
	HandoffControl     = "control"
	HandoffNodeSockets = "node-sockets" // only when there are any
)

// Offer hands h to offer under HandoffSockets, HandoffControl and, if
// there are any, HandoffNodeSockets. offer gets a descriptor it must
// duplicate to keep.
func (h AppHandoff) Offer(offer func(name string, fd int) error) error {
	carrier, err := h.Sockets.Send()
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	defer unix.Close(carrier)
	if err := offer(HandoffSockets, carrier); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	control, err := BareFd(h.Control)
	if err != nil {
		return fmt.Errorf("upgrade: control socket: %w", err)
	}
	defer unix.Close(control)
	if err := offer(HandoffControl, control); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	if len(h.NodeSockets) > 0 {
		carrier, err := Groups{h.NodeSockets}.Send()
		if err != nil {
			return fmt.Errorf("upgrade: the workers' listen() sockets: %w", err)
		}
		defer unix.Close(carrier)
		if err := offer(HandoffNodeSockets, carrier); err != nil {
			return fmt.Errorf("upgrade: %w", err)
		}
	}
	return nil
}

// TakeAppHandoff rebuilds what Offer handed over. file gives what the old
// process passed under a name (nil for nothing). It returns nil for an app
// the old process did not run.
func TakeAppHandoff(file func(name string) (*os.File, error)) (*AppHandoff, error) {
	carrier, err := file(HandoffSockets)
	if err != nil {
		return nil, fmt.Errorf("upgrade: the old master's sockets: %w", err)
	}
	if carrier == nil {
		return nil, nil // an app the old process did not run
	}
	fd, err := BareFd(carrier)
	carrier.Close()
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	sockets, err := Receive(fd)
	unix.Close(fd)
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	f, err := file(HandoffControl)
	if err != nil || f == nil {
		sockets.Close()
		return nil, fmt.Errorf("upgrade: the old master passed no control socket (%v)", err)
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		sockets.Close()
		return nil, fmt.Errorf("upgrade: control socket: %w", err)
	}
	nodeSockets, err := takeNodeSockets(file)
	if err != nil {
		sockets.Close()
		ln.Close()
		return nil, err
	}
	return &AppHandoff{Sockets: sockets, Control: ln.(*net.UnixListener), NodeSockets: nodeSockets}, nil
}

// takeNodeSockets is what the old process's Node workers had it open (none
// when it passed nothing).
func takeNodeSockets(file func(name string) (*os.File, error)) (Set, error) {
	carrier, err := file(HandoffNodeSockets)
	if err != nil || carrier == nil {
		return nil, err
	}
	fd, err := BareFd(carrier)
	carrier.Close()
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	groups, err := Receive(fd)
	unix.Close(fd)
	if err != nil {
		return nil, fmt.Errorf("upgrade: the workers' listen() sockets: %w", err)
	}
	return groups[0], nil // Receive rebuilds at least one set
}
