package worker

import (
	"math"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/internal/proctest"
)

// FuzzListenEnv feeds the socket activation variables to the worker's parser, with the
// same properties as the listener package's FuzzListenEnv: no panic, nothing sized by a
// count it cannot back, one-line errors, and a name for every accepted descriptor.
func FuzzListenEnv(f *testing.F) {
	for _, c := range proctest.ListenEnvCases(f) {
		f.Add(c.PID, c.FDs, c.FDNames)
	}
	f.Fuzz(func(t *testing.T, pidVar, fdsVar, namesVar string) {
		n, names, err := listenEnv(pidVar, fdsVar, namesVar, proctest.ListenEnvPID)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			if n != 0 || names != nil {
				t.Fatalf("error %v with n=%d names=%q", err, n, names)
			}
			return
		}
		if n < 0 || n > math.MaxInt32-listenFDsStart {
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

// FuzzInheritedFiles runs the whole of Files on descriptors that do not exist (it starts
// looking at 1<<20, above any open one): whatever the variables announce, it returns
// files only with no error, and an error rather than a panic or a huge allocation.
func FuzzInheritedFiles(f *testing.F) {
	for _, c := range proctest.ListenEnvCases(f) {
		f.Add(c.PID, c.FDs, c.FDNames)
	}
	f.Fuzz(func(t *testing.T, pidVar, fdsVar, namesVar string) {
		files, err := inheritedFiles(pidVar, fdsVar, namesVar, proctest.ListenEnvPID, 1<<20)
		if len(files) != 0 {
			t.Fatalf("got %d files for descriptors that are not open (err %v)", len(files), err)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Fatalf("error is not one line: %q", err)
		}
	})
}
