package worker

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestCPUShare(t *testing.T) {
	cases := []struct {
		env  map[string]string
		cpus int
		want int // 0: left alone
	}{
		{map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "7", InstancesVar: "2"}, 2, 1},
		{map[string]string{"LISTEN_FDS": "1", InstancesVar: "4"}, 16, 4},
		{map[string]string{"LISTEN_FDS": "1", InstancesVar: "8"}, 2, 1},
		{map[string]string{"LISTEN_FDS": "1", InstancesVar: "2", "GOMAXPROCS": "2"}, 2, 0}, // the user's wins
		{map[string]string{"LISTEN_FDS": "1", InstancesVar: "1"}, 2, 0},                    // alone
		{map[string]string{InstancesVar: "2"}, 2, 0},                                       // no sockets from a master
		{map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "8", InstancesVar: "2"}, 2, 0}, // a parent's variables
		{map[string]string{"LISTEN_FDS": "1", InstancesVar: "two"}, 2, 0},
	}
	for _, c := range cases {
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		got, ok := cpuShare(lookup, c.cpus, 7)
		if !ok {
			got = 0
		}
		if got != c.want {
			t.Errorf("env %v, %d CPUs: GOMAXPROCS %d, want %d (0: unchanged)", c.env, c.cpus, got, c.want)
		}
	}
}

// TestGOMAXPROCSInAWorker: a program importing the package (this test
// binary) starts with its share when a master says it is one of two.
func TestGOMAXPROCSInAWorker(t *testing.T) {
	if os.Getenv("WORKER_PRINT_GOMAXPROCS") == "1" {
		println("GOMAXPROCS", runtime.GOMAXPROCS(0))
		return
	}
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: the share is the default")
	}
	for _, c := range []struct {
		env  []string
		want int
	}{
		{[]string{"LISTEN_FDS=0", InstancesVar + "=2"}, max(1, runtime.GOMAXPROCS(0)/2)},
		{[]string{"LISTEN_FDS=0", InstancesVar + "=2", "GOMAXPROCS=2"}, 2},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGOMAXPROCSInAWorker$")
		cmd.Env = append(os.Environ(), append(c.env, "WORKER_PRINT_GOMAXPROCS=1")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if want := "GOMAXPROCS " + strconv.Itoa(c.want); !strings.Contains(string(out), want) {
			t.Errorf("env %v: %q, want %q", c.env, out, want)
		}
	}
}
