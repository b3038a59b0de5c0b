package proctest

import (
	_ "embed"
	"strconv"
	"strings"
	"testing"
)

// ListenEnvPID is the pid of the process that the rows of [ListenEnvCases] read the
// variables for.
const ListenEnvPID = 42

// A ListenEnvCase is one way of reading LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES.
type ListenEnvCase struct {
	PID, FDs, FDNames string
	// Names are the descriptors' names, in order; none when the process gets none.
	Names []string
	// Err is what the error says, "" when there is none.
	Err string
}

//go:embed listen_env.txt
var listenEnvTable string

// ListenEnvCases is the table in listen_env.txt: the worker package, which may import
// nothing of clusterd's, and the listener package each test their own parser against it,
// so the master and its workers name the same sockets the same way.
func ListenEnvCases(t testing.TB) []ListenEnvCase {
	t.Helper()
	var cases []ListenEnvCase
	for i, line := range strings.Split(listenEnvTable, "\n") {
		if line = strings.TrimSpace(line); line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, "|")
		if len(fields) != 6 {
			t.Fatalf("listen_env.txt:%d: %d columns, want 6", i+1, len(fields))
		}
		var v [6]string
		for j, f := range fields {
			f = strings.TrimSpace(f)
			if j == 3 {
				v[j] = f
				continue
			}
			var err error
			if v[j], err = strconv.Unquote(f); err != nil {
				t.Fatalf("listen_env.txt:%d: column %d: %v", i+1, j+1, err)
			}
		}
		c := ListenEnvCase{PID: v[0], FDs: v[1], FDNames: v[2], Err: v[5]}
		if v[4] != "" {
			c.Names = strings.Split(v[4], ":")
		}
		if n, err := strconv.Atoi(v[3]); err != nil || n != len(c.Names) {
			t.Fatalf("listen_env.txt:%d: count %s but %d names", i+1, v[3], len(c.Names))
		}
		cases = append(cases, c)
	}
	return cases
}
