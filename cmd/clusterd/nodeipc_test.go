package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNodeIPCReadyAndShutdownMessage: a Node app written for PM2 says it
// is ready with process.send('ready') over NODE_CHANNEL_FD (--node-ipc),
// and with --shutdown-with-message it is stopped by the message
// 'shutdown', not SIGTERM, in a reload and in the final stop.
func TestNodeIPCReadyAndShutdownMessage(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the Node IPC test needs it")
	}
	app, _ := filepath.Abs("testdata/pm2_app.js")
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "2", "--wait-ready", "--shutdown-with-message", "--listen-timeout", "10s"},
		command: []string{node, app}, waitReady: true,
	})
	c.waitLogged(`by="READY=1"`, 2)
	l := startLoad(t, c.addr(), true)
	l.waitAnswered(t, 300)
	if out := c.reloadBySignal(); out.Outcome != "succeeded" {
		t.Fatalf("reload: %s", out.Reason)
	}
	l.waitAnswered(t, 300)
	l.finish(t)
	if code, out := run(t, 30*time.Second, "stop", "--control", c.control); code != 0 {
		t.Fatalf("stop: %d %s", code, out)
	}
	<-c.exited
	out := c.output.String()
	if n := strings.Count(out, "got the shutdown message"); n != 4 {
		t.Errorf("want 4 workers stopped by the message (2 by the reload, 2 by the stop), got %d", n)
	}
	if strings.Contains(out, "got SIGTERM") {
		t.Errorf("a worker got SIGTERM despite --shutdown-with-message")
	}
}

// TestNodeAppUnchanged: a Node app written for PM2 (listen(3000),
// process.send('ready'), close on SIGINT) runs under --node-compat with no
// code change, on the socket clusterd opened, and reloads under keep-alive
// load with 0 failed requests: the preload turns its server.close() into
// the zero-loss drain (Node >= 19's close alone drops requests, note 18).
func TestNodeAppUnchanged(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the Node app test needs it")
	}
	app, _ := filepath.Abs("testdata/pm2_unchanged.js")
	c := startCluster(t, clusterOptions{
		// No --node-compat: a node command gets it by itself.
		args:    []string{"-i", "2", "--wait-ready", "--listen-timeout", "10s"},
		command: []string{node, app}, waitReady: true,
	})
	reloadTwiceUnderLoad(t, c, c.addr())
}

// TestNodeAppUnchangedThroughNpmStart: the same PM2 app started by
// `npm start`, as many are: npm is the worker and the server its child. It
// gets the sockets, says ready (on the pipe: npm holds the IPC channel),
// reloads under load without a failed request and stops with npm.
func TestNodeAppUnchangedThroughNpmStart(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed")
	}
	dir := t.TempDir()
	app, _ := os.ReadFile("testdata/pm2_unchanged.js")
	os.WriteFile(filepath.Join(dir, "server.js"), app, 0o644)
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"app","version":"1.0.0","scripts":{"start":"node server.js"}}`), 0o644)
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "2", "--wait-ready", "--listen-timeout", "20s", "--cwd", dir},
		command: []string{npm, "start", "--silent"}, waitReady: true,
	})
	reloadTwiceUnderLoad(t, c, c.addr())
}

// reloadTwiceUnderLoad reloads c twice by SIGHUP under keep-alive load on
// addr: not a request may fail, and answers must come from old and new
// workers.
func reloadTwiceUnderLoad(t *testing.T, c *cluster, addr string) {
	t.Helper()
	l := startLoad(t, addr, true)
	l.waitAnswered(t, 300)
	for i := range 2 {
		if out := c.reloadBySignal(); out.Outcome != "succeeded" {
			t.Fatalf("reload %d: %s", i+1, out.Reason)
		}
		l.waitAnswered(t, 300)
	}
	r := l.finish(t)
	if len(r.ByWorker) < 4 {
		t.Errorf("answers came from %d workers, want the old and the new ones", len(r.ByWorker))
	}
}

// TestNodeListenAsksTheMaster: a PM2 app that names its port only in its
// code (listen(PORT)), started with no -l at all, serves that port from
// every worker: the first listen() has the master open it, every worker
// gets the same socket, and reloads under keep-alive load fail no request
// because the socket outlives the workers. The same through `npm start`,
// where the server is npm's grandchild.
func TestNodeListenAsksTheMaster(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the Node app test needs it")
	}
	app, _ := filepath.Abs("testdata/pm2_unchanged.js")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "server.js"), must(os.ReadFile(app)), 0o644)
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"app","version":"1.0.0","scripts":{"start":"node server.js"}}`), 0o644)
	for _, tc := range []struct {
		name    string
		command []string
	}{
		{"node", []string{node, app}},
		{"npm start", []string{"npm", "start", "--silent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := exec.LookPath(tc.command[0]); err != nil {
				t.Skipf("%s is not installed", tc.command[0])
			}
			port := freePort(t)
			c := startCluster(t, clusterOptions{
				args:    []string{"-i", "2", "--wait-ready", "--listen-timeout", "20s", "--cwd", dir},
				command: tc.command, waitReady: true, ownListen: true,
				env: []string{"PORT=" + strconv.Itoa(port)},
			})
			st := c.status()
			if want := "[::]:" + strconv.Itoa(port); len(st.Listeners) != 1 || st.Listeners[0] != want {
				t.Fatalf("listeners %v, want only %s, the address the app's listen() asked for", st.Listeners, want)
			}
			// Both families: the app asked for every interface.
			reloadTwiceUnderLoad(t, c, "[::1]:"+strconv.Itoa(port))
			reloadTwiceUnderLoad(t, c, "127.0.0.1:"+strconv.Itoa(port))
		})
	}
}

// freePort is a TCP port that nothing on this machine listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestNodeListenSocketSurvivesUpgrade: the socket a Node app's listen()
// had the master open is handed to the new master on `clusterd upgrade`
// (the same inode, not a new bind that would fail while the old one
// serves), and not a request fails under load meanwhile.
func TestNodeListenSocketSurvivesUpgrade(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the Node app test needs it")
	}
	app, _ := filepath.Abs("testdata/pm2_unchanged.js")
	port := freePort(t)
	c := startCluster(t, clusterOptions{
		args:    []string{"-i", "2", "--wait-ready", "--listen-timeout", "20s"},
		command: []string{node, app}, waitReady: true, ownListen: true,
		env: []string{"PORT=" + strconv.Itoa(port)},
	})
	oldPID := c.cmd.Process.Pid
	sockets := listeningSockets(t, oldPID)
	if len(sockets) != 1 {
		t.Fatalf("want the one socket the workers asked for, got %v", sockets)
	}
	l := startLoad(t, "127.0.0.1:"+strconv.Itoa(port), true)
	l.waitAnswered(t, 300)
	if code, out := run(t, 60*time.Second, "upgrade", "--control", c.control); code != 0 || !strings.Contains(out, "upgraded") {
		t.Fatalf("clusterd upgrade: exit %d: %s", code, out)
	}
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the old master did not exit after the upgrade")
	}
	st := c.status()
	if got := listeningSockets(t, st.PID); !slices.Equal(got, sockets) {
		t.Errorf("the workers' socket changed across the upgrade: %v -> %v", sockets, got)
	}
	c.waitAllReady()
	l.waitAnswered(t, 300)
	l.finish(t)
}
