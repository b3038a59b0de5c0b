package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Template is what every worker of one app starts with, whatever its
// release and slot: the user it runs as (--user, --group), the environment
// its release's own goes over (the master's, without what belongs to the
// master), stdin on /dev/null rather than the master's terminal, and with
// --node-compat the preload.
type Template struct {
	credential *syscall.Credential // nil: the master's own user
	env        []string
	stdin      *os.File
	// preloadDir holds the --node-compat preload at preload; Close
	// removes it.
	preloadDir, preload string
}

// NewTemplate resolves userName and groupName (either may be empty) and,
// for a Node app run as under PM2, writes the preload.
func NewTemplate(userName, groupName string, nodeCompat bool) (*Template, error) {
	credential, userEnv, err := Credential(userName, groupName)
	if err != nil {
		return nil, err
	}
	t := &Template{credential: credential, env: WithUserEnv(MasterEnvForWorkers(os.Environ()), userEnv)}
	if t.stdin, err = os.OpenFile(os.DevNull, os.O_RDONLY, 0); err != nil {
		return nil, err
	}
	if nodeCompat {
		if t.preloadDir, t.preload, err = WriteNodePreload(); err != nil {
			t.stdin.Close()
			return nil, err
		}
	}
	return t, nil
}

// Close releases what NewTemplate opened and wrote.
func (t *Template) Close() {
	t.stdin.Close()
	if t.preloadDir != "" {
		os.RemoveAll(t.preloadDir)
	}
}

// UID is the user the workers run as.
func (t *Template) UID() uint32 {
	if t.credential != nil {
		return t.credential.Uid
	}
	return uint32(os.Getuid())
}

// ReleaseEnv is the whole environment of a release's workers: the
// master's, then the release's own variables over it, then what the
// --node-compat preload needs to know of the app's sockets (boundAddrs,
// in fd order).
func (t *Template) ReleaseEnv(own, boundAddrs []string) []string {
	env := slices.Clone(t.env)
	for _, kv := range own {
		name, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return HasKey(e, name) })
		env = append(env, kv)
	}
	if t.preload != "" {
		env = NodeCompatEnv(env, t.preload, boundAddrs)
	}
	return env
}

// Prepare gives w what every worker of the app gets: stdin, its user, and
// the preload's channel, whose preload it writes again if a temp cleaner
// removed it since: every Node worker needs it at start.
func (t *Template) Prepare(w *Worker) error {
	if t.preload != "" {
		if err := EnsureNodePreload(t.preload); err != nil {
			return err
		}
	}
	w.Stdio[0], w.Credential, w.PreloadIPC = t.stdin.Fd(), t.credential, t.preload != ""
	return nil
}

// MakeFileDirs creates the missing directories of the log and pid files,
// as PM2 does, owned by the workers' user when they run as another, so the
// files' readers (that user's tools) can reach them.
func (t *Template) MakeFileDirs(files ...string) error {
	for _, file := range files {
		if file == "" {
			continue
		}
		dir := filepath.Dir(file)
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("log directory: %w", err)
		}
		if t.credential != nil {
			os.Chown(dir, int(t.credential.Uid), int(t.credential.Gid))
		}
	}
	return nil
}
