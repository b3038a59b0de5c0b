package master

import (
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/config"
)

// TestSteeringFollowsWorkers: a slot takes new connections only while a
// ready worker serves it and nothing replaces it: off from the first news
// of its worker's death until the successor is ready, and off while a
// reload's successor starts.
func TestSteeringFollowsWorkers(t *testing.T) {
	l := startLoop(t, func(c *config.Config) { c.WaitReady = true; c.Instances = 2 })
	want := func(when string, on ...bool) {
		t.Helper()
		var got []bool
		l.on(func() { got = l.m.slotsOn() })
		if !slices.Equal(got, on) {
			t.Fatalf("%s: slots on %v, want %v", when, got, on)
		}
	}
	want("starting", false, false)
	first := l.worker(0)
	l.ready(first)
	l.ready(l.worker(1))
	want("both ready", true, true)
	l.clock.advance(config.Defaults().MinUptime) // a crash, replaced at once

	l.host.exit(first, unix.WaitStatus(syscall.SIGKILL), false) // its tree lives on for now
	l.waitFor("news of the death", func() bool { return l.m.procs[first].leaderGone })
	want("main process killed", false, true)
	l.host.exit(first, unix.WaitStatus(syscall.SIGKILL), true)
	l.waitFor("a replacement", func() bool { w := l.m.slots[0].worker; return w != nil && w.pid != first })
	want("replacement starting", false, true)
	l.ready(l.worker(0))
	want("replacement ready", true, true)

	var successor *proc
	l.on(func() {
		var err error
		if successor, err = l.m.spawn(1, l.m.current, true); err != nil {
			t.Fatal(err)
		}
	})
	want("a reload's successor starting", true, false)
	<-successor.forked
	want("a reload's successor forked", true, false)
	l.ready(successor.pid)
	l.on(func() {
		if err := l.m.promote(successor); err != nil {
			t.Fatal(err)
		}
	})
	want("successor took over", true, true)
}
