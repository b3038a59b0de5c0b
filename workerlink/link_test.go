package workerlink

import (
	"os"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/launch"
)

// TestLinkInherit: a worker inherits every channel of its link, the health
// socket after the app's sockets, and Close removes the health socket's
// path.
func TestLinkInherit(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{MasterPID: os.Getpid(), ID: 1, HealthDir: dir, App: "app", NodeIPC: true})
	if err != nil {
		t.Fatal(err)
	}
	w := launch.Worker{Sockets: []int{7}, FdNames: "http"}
	l.Inherit(&w)
	if len(w.Sockets) != 2 || w.Sockets[1] != l.Health.Fd() || w.FdNames != "http:health" {
		t.Errorf("sockets %v named %q, want the health socket after fd 7", w.Sockets, w.FdNames)
	}
	if w.NodeIPC < 0 || w.Stdio[1] == 0 || w.Stdio[2] == 0 || !strings.Contains(w.NotifyAddr, "clusterd") || w.NotifyPipe <= 0 {
		t.Errorf("not every channel inherited: %+v", w)
	}
	l.Forked()
	l.Close()
	l.Output.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}
