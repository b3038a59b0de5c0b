package listener

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/internal/proctest"
)

// TestHelperProcess is the child side of the tests that need sockets inherited as
// descriptors 3, 4, … with LISTEN_FDS, as socket activation starts a master (see
// proctest.Start).
func TestHelperProcess(t *testing.T) {
	proctest.RunHelper(map[string]func() error{"groups": helperGroups})
}

// helperGroups adopts the inherited sockets and opens two slots with the -l specs in
// CLUSTERD_TEST_SPECS (none when empty), as the master does, then prints one line per
// slot: "slot N: name=bound name=bound".
func helperGroups() error {
	inherited, err := Inherited()
	if err != nil {
		return err
	}
	var specs []Spec
	if values := os.Getenv("CLUSTERD_TEST_SPECS"); values != "" {
		for i, value := range strings.Split(values, ",") {
			spec, err := Parse(value, i)
			if err != nil {
				return err
			}
			specs = append(specs, spec)
		}
	}
	groups, err := OpenGroupsWith(inherited, specs, 2, Options{})
	if err != nil {
		return err
	}
	defer groups.Close()
	for i, set := range groups {
		var line []string
		for _, s := range set {
			line = append(line, s.Name+"="+s.BoundAddress())
		}
		fmt.Printf("slot %d: %s\n", i, strings.Join(line, " "))
	}
	fmt.Println("done")
	return nil
}

// TestOpenGroupsInheritedOnly is `systemd-socket-activate -l ADDR clusterd -i 2`: sockets
// inherited and no -l given. Every slot serves the inherited sockets (it used to panic
// with index out of range, sizing the slots' sets by the specs).
func TestOpenGroupsInheritedOnly(t *testing.T) {
	webAddr, web := proctest.Socket(t)
	adminAddr, admin := proctest.Socket(t)
	child := proctest.Start(t, "groups", []*os.File{web, admin}, "LISTEN_FDNAMES=web:admin")
	for i := range 2 {
		want := fmt.Sprintf("slot %d: web=%s admin=%s", i, webAddr, adminAddr)
		if got := child.WaitOutput(fmt.Sprintf("slot %d:", i)); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
	child.WaitOutput("done")
	if code := child.Wait(); code != 0 {
		t.Fatalf("child exited with %d", code)
	}
}

// TestOpenGroupsInheritedAndSpecs: a -l naming an inherited socket adopts it, another is
// bound, and every slot gets both.
func TestOpenGroupsInheritedAndSpecs(t *testing.T) {
	webAddr, web := proctest.Socket(t)
	child := proctest.Start(t, "groups", []*os.File{web},
		"LISTEN_FDNAMES=web", "CLUSTERD_TEST_SPECS=web=127.0.0.1:1,api=127.0.0.1:0")
	first := child.WaitOutput("slot 0:")
	if !strings.HasPrefix(first, "slot 0: web="+webAddr+" api=127.0.0.1:") {
		t.Errorf("slot 0 = %q, want the inherited web socket and a bound api socket", first)
	}
	if second := child.WaitOutput("slot 1:"); second != strings.Replace(first, "slot 0", "slot 1", 1) {
		t.Errorf("slot 1 = %q, want slot 0's sockets %q", second, first)
	}
	child.WaitOutput("done")
	if code := child.Wait(); code != 0 {
		t.Fatalf("child exited with %d", code)
	}
}

// TestOpenGroupsUnnamedInherited: without LISTEN_FDNAMES (systemd-socket-activate without
// --fdname) the sockets are "unknown", as sd_listen_fds_with_names names them and as the
// workers will see them, and the i-th -l without a name adopts the i-th of them.
func TestOpenGroupsUnnamedInherited(t *testing.T) {
	addr, sock := proctest.Socket(t)
	child := proctest.Start(t, "groups", []*os.File{sock}, "CLUSTERD_TEST_SPECS="+addr)
	for i := range 2 {
		want := fmt.Sprintf("slot %d: unknown=%s", i, addr)
		if got := child.WaitOutput(fmt.Sprintf("slot %d:", i)); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
	child.WaitOutput("done")
	if code := child.Wait(); code != 0 {
		t.Fatalf("child exited with %d", code)
	}
}

// TestListenEnv checks the master's reading of the variables against the table the
// worker package is tested against too, so both name the same sockets the same way.
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
