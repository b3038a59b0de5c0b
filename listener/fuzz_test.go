package listener

import (
	"errors"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/internal/proctest"
)

// FuzzListenEnv feeds the socket activation variables to the master's parser. Whatever
// they hold, it must not panic or size anything by a count it cannot back, its errors
// are one line, and a count it accepts names every descriptor.
func FuzzListenEnv(f *testing.F) {
	for _, c := range proctest.ListenEnvCases(f) {
		f.Add(c.PID, c.FDs, c.FDNames)
	}
	f.Fuzz(func(t *testing.T, pidVar, fdsVar, namesVar string) {
		n, names, err := listenEnv(pidVar, fdsVar, namesVar, proctest.ListenEnvPID)
		if err != nil {
			checkOneLine(t, err)
			if n != 0 || names != nil {
				t.Fatalf("error %v with n=%d names=%q", err, n, names)
			}
			return
		}
		if n < 0 || n > math.MaxInt32-3 {
			t.Fatalf("n = %d: not a number of descriptors from 3 up", n)
		}
		if n > 0 && (pidVar == "" || fdsVar == "") {
			t.Fatalf("n = %d without LISTEN_PID and LISTEN_FDS", n)
		}
		if names != nil && len(names) != n {
			t.Fatalf("%d names for %d descriptors", len(names), n)
		}
		for i := range min(n, 64) {
			if name := listenName(names, i); name == "" || strings.Contains(name, ":") {
				t.Fatalf("descriptor %d is named %q", i, name)
			}
		}
	})
}

// FuzzParse feeds -l values to Parse, with host names resolved without the network. An
// accepted spec is a tcp address with a decimal port or a unix path, and String gives
// back a value that Parse reads as the same spec.
func FuzzParse(f *testing.F) {
	f.Cleanup(func() { lookupHost = net.LookupHost })
	lookupHost = func(host string) ([]string, error) {
		if host == "app.test" {
			return []string{"127.0.0.1"}, nil
		}
		return nil, errors.New("no such host")
	}
	for _, seed := range []string{
		":3000", "127.0.0.1:8080", "[::1]:80", "localhost:0", "app.test:80", "nohost.test:80",
		"unix:/run/app.sock", "http=:80", "api=unix:/tmp/x.sock", "a=b=unix:/x", "3000",
		":99999", ":+80", ":-0", "unix:", "a:b=:80", "=:80", "web\x01=:80", "[fe80::1%lo]:80",
	} {
		f.Add(seed, uint8(0))
	}
	f.Fuzz(func(t *testing.T, value string, index uint8) {
		spec, err := Parse(value, int(index))
		if err != nil {
			checkOneLine(t, err)
			return
		}
		if err := checkName(spec.Name); err != nil {
			t.Fatalf("Parse(%q) named it %q: %v", value, spec.Name, err)
		}
		switch spec.Network {
		case "unix":
			if spec.Address == "" {
				t.Fatalf("Parse(%q): empty unix path", value)
			}
		case "tcp":
			_, port, _ := strings.Cut(spec.Address[strings.LastIndex(spec.Address, "]")+1:], ":")
			if n, err := strconv.Atoi(port); err != nil || n > 65535 || strings.Trim(port, "0123456789") != "" {
				t.Fatalf("Parse(%q) accepted port %q: want 0 to 65535 in decimal", value, port)
			}
		default:
			t.Fatalf("Parse(%q): network %q", value, spec.Network)
		}
		again, err := Parse(spec.String(), int(index))
		if err != nil || again != spec {
			t.Fatalf("Parse(%q) = %+v, but Parse(%q) = %+v, %v", value, spec, spec.String(), again, err)
		}
	})
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("error is not one line: %q", msg)
	}
}
