package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// AllMasters are clients of every live control socket in the directory of
// path, whatever its name. Stale sockets (their master was killed) are
// removed, each named on stderr once.
func AllMasters(path string) []*Client {
	live, stale := Masters(filepath.Dir(path))
	for _, p := range stale {
		fmt.Fprintf(os.Stderr, "clusterd: %s was stale (its master is gone): removed\n", p)
	}
	clients := make([]*Client, len(live))
	for i, p := range live {
		clients[i] = &Client{Path: p}
	}
	return clients
}

// OtherMasters are clients of the masters whose control sockets are in the
// default directory, when path is the default master's and it is not
// there (the apps of a config file run under their own names); nil
// otherwise.
func OtherMasters(path string) []*Client {
	def, err := DefaultPath("default")
	if err != nil || path != def {
		return nil
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if clients := AllMasters(def); len(clients) > 0 {
		return clients
	}
	return nil
}
