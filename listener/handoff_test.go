package listener

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestHandoffKeepsModes: a new master rebuilds each address's mode and its
// mirror of the SO_REUSEPORT group from what the old one sent.
func TestHandoffKeepsModes(t *testing.T) {
	specs := []Spec{{Name: "web", Network: "tcp", Address: "127.0.0.1:0"}, {Name: "api", Network: "tcp", Address: "127.0.0.1:0"}}
	g, err := OpenGroups(specs, 2, Options{ReusePort: true, Unsteered: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.share(1, "test") // the second address shared
	carrier, err := g.Send()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(carrier)
	got, err := Receive(carrier)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	for j := range specs {
		if got[0][j].Mode() != g[0][j].Mode() {
			t.Errorf("address %d: mode %s after the handoff, %s before", j, got[0][j].Mode(), g[0][j].Mode())
		}
	}
	if group := got[0][0].group; group == nil || len(group.members) != 2 || group.members[1] != got[1][0] {
		t.Fatalf("the group's mirror is not rebuilt in slot order: %+v", group)
	}
	if got[1][1] != got[0][1] || got[0][1].group != nil {
		t.Fatal("the shared address is no longer shared")
	}
}
