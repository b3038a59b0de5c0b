package worker

import (
	"slices"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/internal/proctest"
)

// TestListenEnv checks the worker's reading of the variables against the table the
// listener package (the master's side) is tested against too.
func TestListenEnv(t *testing.T) {
	for _, c := range proctest.ListenEnvCases(t) {
		n, names, err := listenEnv(c.PID, c.FDs, c.FDNames, proctest.ListenEnvPID)
		var got []string
		for i := range n {
			got = append(got, listenName(names, i))
		}
		if !slices.Equal(got, c.Names) || (err == nil) != (c.Err == "") || err != nil && !strings.Contains(err.Error(), c.Err) {
			t.Errorf("LISTEN_PID=%q LISTEN_FDS=%q LISTEN_FDNAMES=%q: got %q, %v; want %q, error %q",
				c.PID, c.FDs, c.FDNames, got, err, c.Names, c.Err)
		}
	}
}
