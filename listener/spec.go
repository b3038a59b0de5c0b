package listener

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Spec is one listening address as a user wrote it on the command line.
type Spec struct {
	// Name is the socket's entry in LISTEN_FDNAMES. Workers that serve
	// several sockets tell them apart by it.
	Name string
	// Network is "tcp" or "unix".
	Network string
	// Address is "host:port" for tcp and a filesystem path for unix.
	Address string
}

// String gives the spec back in the form Parse accepts.
func (s Spec) String() string {
	addr := s.Address
	if s.Network == "unix" {
		addr = "unix:" + addr
	}
	return s.Name + "=" + addr
}

// Parse reads one --listen value: "host:port", ":port", "[::1]:port",
// "unix:/path", or any of those prefixed with "NAME=" to choose the socket's
// LISTEN_FDNAMES entry. index numbers unnamed sockets ("listen0", ...).
func Parse(value string, index int) (Spec, error) {
	spec := Spec{Name: "listen" + strconv.Itoa(index)}
	addr := value
	if name, rest, ok := strings.Cut(value, "="); ok {
		if err := checkName(name); err != nil {
			return Spec{}, fmt.Errorf("listen address %q: %w", value, err)
		}
		spec.Name, addr = name, rest
	}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return Spec{}, fmt.Errorf("listen address %q: unix socket path is empty", value)
		}
		spec.Network, spec.Address = "unix", path
		return spec, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Spec{}, fmt.Errorf("listen address %q: want host:port, :port, [::1]:port or unix:/path", value)
	}
	// Digits only: Atoi takes "+80" and "-0", which no listen call does.
	if n, err := strconv.Atoi(port); err != nil || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return Spec{}, fmt.Errorf("listen address %q: port %q is not a number from 0 to 65535", value, port)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		if _, err := lookupHost(host); err != nil {
			return Spec{}, fmt.Errorf("listen address %q: unknown host %q", value, host)
		}
	}
	spec.Network, spec.Address = "tcp", addr
	return spec, nil
}

// lookupHost is net.LookupHost; the fuzz test answers without the network.
var lookupHost = net.LookupHost

// checkName enforces sd_listen_fds(3)'s rules for a name: no ':' (the
// separator), no control characters, at most 255 bytes.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("socket name before '=' is empty")
	}
	if len(name) > 255 {
		return fmt.Errorf("socket name is longer than 255 bytes")
	}
	for _, r := range name {
		if r == ':' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("socket name %q may not contain ':' or control characters", name)
		}
	}
	return nil
}
