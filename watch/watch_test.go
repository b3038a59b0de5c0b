package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder keeps what a watcher reports: every change that reaches the
// debounce (trace), with when, and the bursts' first paths.
type recorder struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	count  map[string]int
	bursts []string
	fails  []error
}

var modes = []struct {
	name string
	opts Options
}{
	{"inotify", Options{}},
	{"poll", Options{Poll: true, PollInterval: 20 * time.Millisecond}},
}

func watchFor(t *testing.T, paths []string, opts Options) (*Watcher, *recorder) {
	t.Helper()
	r := &recorder{seen: map[string]time.Time{}, count: map[string]int{}}
	if opts.Delay == 0 {
		opts.Delay = 10 * time.Millisecond
	}
	w, err := start(paths, opts,
		func(first string) { r.mu.Lock(); r.bursts = append(r.bursts, first); r.mu.Unlock() },
		func(err error) { r.mu.Lock(); r.fails = append(r.fails, err); r.mu.Unlock() },
		func(path string) {
			r.mu.Lock()
			r.count[path]++
			if _, ok := r.seen[path]; !ok {
				r.seen[path] = time.Now()
			}
			r.mu.Unlock()
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w, r
}

// waitSeen waits until path has been reported, and says when it was.
func (r *recorder) waitSeen(t *testing.T, path string) time.Time {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		at, ok := r.seen[path]
		fails := slices.Clone(r.fails)
		r.mu.Unlock()
		if ok {
			return at
		}
		if time.Now().After(deadline) {
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("%s not reported within 10s; reported %v, failures %v", path, r.seen, fails)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *recorder) saw(path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.seen[path]
	return ok
}

// unseen checks that none of paths, written before, was reported: two
// changes written after them (each a whole poll or inotify event later)
// must be reported first, so anything the watcher saw of paths is in by
// then.
func (r *recorder) unseen(t *testing.T, dir string, paths ...string) {
	t.Helper()
	for i := range 2 {
		sentinel := filepath.Join(dir, fmt.Sprintf("sentinel-%d-%d", time.Now().UnixNano(), i))
		write(t, sentinel, "x")
		r.waitSeen(t, sentinel)
	}
	for _, p := range paths {
		if r.saw(p) {
			t.Errorf("%s was reported, and should not be", p)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Polling sees files created, changed and removed, in directories created
// later too, with no inotify at all; the bursts reach changed.
func TestPollDetectsChanges(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "app.js"), "v1")
	w, r := watchFor(t, []string{root}, modes[1].opts)
	if w.fs != nil {
		t.Fatal("polling opened an inotify watcher")
	}
	write(t, filepath.Join(root, "app.js"), "version 2")
	r.waitSeen(t, filepath.Join(root, "app.js"))
	write(t, filepath.Join(root, "lib", "util.js"), "x")
	r.waitSeen(t, filepath.Join(root, "lib", "util.js"))
	write(t, filepath.Join(root, "lib", "deeper", "more.js"), "x")
	r.waitSeen(t, filepath.Join(root, "lib", "deeper", "more.js"))
	os.Remove(filepath.Join(root, "lib", "util.js"))
	r.mu.Lock()
	delete(r.seen, filepath.Join(root, "lib", "util.js"))
	r.mu.Unlock()
	r.waitSeen(t, filepath.Join(root, "lib", "util.js"))
	write(t, filepath.Join(root, "server.log"), "ignored")
	r.unseen(t, root, filepath.Join(root, "server.log"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.bursts)
		r.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("changed was never called")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := Start([]string{filepath.Join(root, "missing")}, Options{Poll: true}, func(string) {}, func(error) {}); err == nil {
		t.Error("polling a missing path started")
	}
}

// A watched path that is a file is watched, in both modes.
func TestWatchedFile(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "app.js")
			write(t, file, "v1")
			_, r := watchFor(t, []string{file}, mode.opts)
			write(t, file, "version 2")
			r.waitSeen(t, file)
		})
	}
}

// Depth limits how many directory levels below a watched path are
// watched, for directories there at the start and created later.
func TestDepthLimits(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, filepath.Join(root, "a", "b", "deep.txt"), "v1")
			opts := mode.opts
			depth := 1
			opts.Depth = &depth
			_, r := watchFor(t, []string{root}, opts)

			// Level 1 (a) is watched; level 2 (a/b) is only an entry of a.
			write(t, filepath.Join(root, "a", "b", "deep.txt"), "version 2")
			write(t, filepath.Join(root, "a", "b", "new.txt"), "x")
			write(t, filepath.Join(root, "a", "shallow.txt"), "x")
			r.waitSeen(t, filepath.Join(root, "a", "shallow.txt"))
			r.unseen(t, root, filepath.Join(root, "a", "b", "deep.txt"), filepath.Join(root, "a", "b", "new.txt"))

			// A directory created later at level 1 is watched, the one
			// created in it (level 2) is seen but not entered.
			os.Mkdir(filepath.Join(root, "n"), 0o755)
			r.waitSeen(t, filepath.Join(root, "n"))
			write(t, filepath.Join(root, "n", "f.txt"), "x")
			r.waitSeen(t, filepath.Join(root, "n", "f.txt"))
			os.Mkdir(filepath.Join(root, "n", "m"), 0o755)
			r.waitSeen(t, filepath.Join(root, "n", "m"))
			write(t, filepath.Join(root, "n", "m", "f.txt"), "x")
			r.unseen(t, root, filepath.Join(root, "n", "m", "f.txt"))

			// Depth 0: the watched path's own entries only.
			root0 := t.TempDir()
			os.Mkdir(filepath.Join(root0, "sub"), 0o755)
			opts0 := mode.opts
			zero := 0
			opts0.Depth = &zero
			_, r0 := watchFor(t, []string{root0}, opts0)
			write(t, filepath.Join(root0, "sub", "f.txt"), "x")
			r0.unseen(t, root0, filepath.Join(root0, "sub", "f.txt"))
		})
	}
}

// A symlinked directory is followed by default (chokidar's
// followSymlinks), a link back up is not followed round, and with
// NoFollowSymlinks it is not entered.
func TestSymlinkedDirectories(t *testing.T) {
	for _, mode := range modes {
		for _, follow := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/follow=%v", mode.name, follow), func(t *testing.T) {
				root, outside := t.TempDir(), t.TempDir()
				write(t, filepath.Join(outside, "lib.js"), "v1")
				if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(root, filepath.Join(root, "loop")); err != nil {
					t.Fatal(err)
				}
				opts := mode.opts
				opts.NoFollowSymlinks = !follow
				_, r := watchFor(t, []string{root}, opts)
				write(t, filepath.Join(outside, "lib.js"), "version 2")
				through := filepath.Join(root, "link", "lib.js")
				if follow {
					r.waitSeen(t, through)
				} else {
					r.unseen(t, root, through)
				}
				r.mu.Lock()
				for path := range r.seen {
					if strings.Contains(path, "loop/loop") {
						t.Errorf("the link to its own directory was followed round: %s", path)
					}
				}
				r.mu.Unlock()
			})
		}
	}
}

// AwaitWriteFinish reports a file being written only once its size has
// stayed the same that long after the last write, once.
func TestAwaitWriteFinish(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			root := t.TempDir()
			opts := mode.opts
			opts.AwaitWriteFinish = 300 * time.Millisecond
			_, r := watchFor(t, []string{root}, opts)
			path := filepath.Join(root, "upload.bin")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// A slow copy: a chunk every 60ms, well within the threshold.
			tick := time.NewTicker(60 * time.Millisecond)
			defer tick.Stop()
			var lastWrite time.Time
			for range 8 {
				<-tick.C
				lastWrite = time.Now()
				if _, err := f.Write(make([]byte, 4096)); err != nil {
					t.Fatal(err)
				}
				if r.saw(path) {
					t.Fatalf("reported while still being written")
				}
			}
			at := r.waitSeen(t, path)
			if at.Sub(lastWrite) < opts.AwaitWriteFinish {
				t.Errorf("reported %s after the last write, want at least %s", at.Sub(lastWrite), opts.AwaitWriteFinish)
			}
			r.unseen(t, root) // a second report would be in by now
			r.mu.Lock()
			n := r.count[path]
			r.mu.Unlock()
			if n != 1 {
				t.Errorf("reported %d times for one slow write, want once", n)
			}
		})
	}
}
