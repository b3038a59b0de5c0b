package launch

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// preloadJS is clusterd's Node preload; see nodejs/preload.js.
//
//go:embed nodejs/preload.js
var preloadJS []byte

// WriteNodePreload puts the preload where every worker may read it (a
// worker may run as --user), in a directory of its own that the master
// removes when it exits.
func WriteNodePreload() (dir, path string, err error) {
	dir, err = os.MkdirTemp("", "clusterd-node-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err == nil {
		path = filepath.Join(dir, "preload.js")
		err = os.WriteFile(path, preloadJS, 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("--node-compat: writing the preload: %w", err)
	}
	return dir, path, nil
}

// EnsureNodePreload writes the preload at path again if it is gone (a
// temp cleaner removed it): a re-fork long after the start still finds it.
func EnsureNodePreload(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	dir := filepath.Dir(path)
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(path, preloadJS, 0o644)
	}
	if err != nil {
		return fmt.Errorf("--node-compat: the preload %s is gone and cannot be written again: %w", path, err)
	}
	return nil
}

// NodeCompatEnv adds the preload to NODE_OPTIONS (keeping the user's own
// options) and tells it the ports of the inherited sockets, in fd order.
func NodeCompatEnv(env []string, preload string, boundAddrs []string) []string {
	ports := make([]string, len(boundAddrs))
	for i, addr := range boundAddrs {
		if j := strings.LastIndexByte(addr, ':'); j >= 0 && !strings.HasPrefix(addr, "unix:") {
			if _, err := strconv.Atoi(addr[j+1:]); err == nil {
				ports[i] = addr[j+1:]
			}
		}
	}
	options := "--require " + preload
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "NODE_OPTIONS="); ok {
			options += " " + v
			continue
		}
		out = append(out, kv)
	}
	return append(out, "NODE_OPTIONS="+options, "CLUSTERD_LISTEN_PORTS="+strings.Join(ports, ","))
}

// PreloadChannelVar names the Node IPC channel's descriptor under
// --node-compat, instead of NODE_CHANNEL_FD. Node claims NODE_CHANNEL_FD in
// the first Node process that sees it, before any preload runs; behind
// `npm start` that is npm, and the server npm starts would have no channel
// to say it is ready or to ask for its sockets. Under this name the preload
// claims it in the process that serves (not in a package manager), and
// Node's own process.send and 'message' work there as they would under PM2.
const PreloadChannelVar = "CLUSTERD_NODE_CHANNEL_FD"
