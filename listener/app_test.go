package listener

import "testing"

// TestOpenApp: no --listen binds the default, and an app that serves no
// socket, or asks for its sockets later, starts every slot with none.
func TestOpenApp(t *testing.T) {
	g, err := OpenApp(AppSockets{Default: "127.0.0.1:0", Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if len(g) != 2 || len(g[0]) != 1 || len(g[1]) != 1 {
		t.Fatalf("default listen: got %d slots of %v", len(g), g)
	}
	for _, a := range []AppSockets{{None: true, Listen: []string{"127.0.0.1:0"}, Slots: 3}, {OnDemand: true, Default: "127.0.0.1:0", Slots: 3}} {
		g, err := OpenApp(a)
		if err != nil || len(g) != 3 || len(g[0]) != 0 {
			t.Errorf("%+v: got %v, %v; want 3 empty slots", a, g, err)
		}
	}
}
