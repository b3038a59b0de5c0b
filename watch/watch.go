// Package watch reports changes under a set of paths, for --watch: every
// directory below them is watched (github.com/fsnotify/fsnotify does the
// inotify work, or a walk every poll interval where inotify does not
// work), directories created later too, ignored names never count, and a
// burst of changes within the delay is one change. PM2's watch_options
// (chokidar's usePolling, interval, followSymlinks, depth and
// awaitWriteFinish) are Options.
package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// defaultWatchIgnore never triggers a reload: version control, dependency
// trees, logs, and clusterd's own files (matched by name below).
var defaultWatchIgnore = []string{".git", "node_modules", "*.log", "*.sock", "*.pid", "*.swp", "*~"}

// DefaultPollInterval is how often Poll walks the trees when
// PollInterval is zero (chokidar's interval).
const DefaultPollInterval = 100 * time.Millisecond

// awaitPoll is how often a file awaited by AwaitWriteFinish is looked at
// (chokidar's awaitWriteFinish.pollInterval).
const awaitPoll = 100 * time.Millisecond

// Options say how to watch.
type Options struct {
	// Ignore adds globs to the defaults: a name (or a whole path) that
	// matches one never counts, and an ignored directory is not entered.
	Ignore []string
	// Delay is the debounce: a burst of changes within it is one.
	Delay time.Duration
	// Poll stats the watched trees every PollInterval (0:
	// DefaultPollInterval) instead of using inotify, for file systems
	// where inotify sees nothing (NFS, CIFS, some container and VM
	// mounts) or when inotify watches run out.
	Poll         bool
	PollInterval time.Duration
	// NoFollowSymlinks: a symbolic link to a directory is an entry of its
	// own, not entered (chokidar's followSymlinks: false). A watched path
	// given as a link is followed anyway.
	NoFollowSymlinks bool
	// Depth, if set, is how many levels of directories below a watched
	// path are entered: 0 watches its own entries only (chokidar's depth).
	Depth *int
	// AwaitWriteFinish, if positive, reports a file written to only once
	// it has gone that long unwritten with the same size (chokidar's
	// awaitWriteFinish.stabilityThreshold): a large copy is one change,
	// seen complete.
	AwaitWriteFinish time.Duration
}

// Watcher watches trees of files until Close.
type Watcher struct {
	opts    Options
	roots   []string
	fs      *fsnotify.Watcher // nil when polling
	ignore  []string
	changed func(first string)
	failed  func(error)
	stopped chan struct{}
	// trace, for tests, sees every change that reaches the debounce.
	trace func(path string)

	// Owned by Start, then by run.
	levels   map[string]int      // inotify: each watched directory's depth
	snapshot map[string]entry    // polling: what the last walk saw
	awaiting map[string]awaiting // AwaitWriteFinish: files not yet reported
	lastErr  string              // polling: the last error reported
}

// entry is what polling compares of a path between two walks.
type entry struct {
	dir   bool
	size  int64
	mtime int64
	ino   uint64
}

type awaiting struct {
	size  int64
	since time.Time
}

// Start watches every path and the directories below it. changed gets the
// first changed path of each burst; failed gets what goes wrong later (a
// new directory that cannot be watched). Both run on the watcher's
// goroutine.
func Start(paths []string, opts Options, changed func(first string), failed func(error)) (*Watcher, error) {
	return start(paths, opts, changed, failed, nil)
}

func start(paths []string, opts Options, changed func(first string), failed func(error), trace func(string)) (*Watcher, error) {
	w := &Watcher{opts: opts, roots: paths, ignore: append(append([]string{}, defaultWatchIgnore...), opts.Ignore...),
		changed: changed, failed: failed, stopped: make(chan struct{}), trace: trace,
		levels: map[string]int{}, awaiting: map[string]awaiting{}}
	if w.opts.PollInterval <= 0 {
		w.opts.PollInterval = DefaultPollInterval
	}
	if opts.Poll {
		snap, err := w.walkAll()
		if err != nil {
			return nil, err
		}
		w.snapshot = snap
		go w.run()
		return w, nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("--watch: %w (--watch-poll watches without inotify)", inotifyHint(err))
	}
	w.fs = fw
	for _, root := range paths {
		if err := w.addTree(root, 0); err != nil {
			fw.Close()
			return nil, err
		}
	}
	go w.run()
	return w, nil
}

func (w *Watcher) ignored(path string) bool {
	base := filepath.Base(path)
	for _, pattern := range w.ignore {
		if ok, _ := filepath.Match(pattern, base); ok {
			return true
		}
		if ok, _ := filepath.Match(pattern, path); ok {
			return true
		}
	}
	return false
}

// walk visits root, at level (its depth below its watched path), and what
// is below it as the options say: visit gets each path with what it is (a
// link's target where links are followed), its level, and whether it is a
// directory that is entered. A link that leads back into a directory being
// walked is not entered again. What vanishes during the walk is skipped;
// another error stops the walk, or with keepGoing skips what it concerns,
// and the first is returned.
func (w *Watcher) walk(root string, level int, keepGoing bool, visit func(path string, fi fs.FileInfo, level int, entered bool) error) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	var first error
	fail := func(err error) bool {
		if errors.Is(err, fs.ErrNotExist) {
			return false
		}
		if first == nil {
			first = err
		}
		return !keepGoing
	}
	var walkFrom func(dir string, fi fs.FileInfo, level int, up []fileID) bool
	walkFrom = func(dir string, fi fs.FileInfo, level int, up []fileID) (stop bool) {
		if err := visit(dir, fi, level, fi.IsDir()); err != nil {
			return fail(err)
		}
		if !fi.IsDir() {
			return false
		}
		up = append(up, idOf(fi))
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fail(err)
		}
		for _, e := range entries {
			path := filepath.Join(dir, e.Name())
			if w.ignored(path) {
				continue
			}
			info, err := e.Info() // what the link is, for a link
			if err != nil {
				if fail(err) {
					return true
				}
				continue
			}
			if info.Mode()&fs.ModeSymlink != 0 && !w.opts.NoFollowSymlinks {
				if target, err := os.Stat(path); err == nil {
					info = target // a dangling link stays a link
				}
			}
			if info.IsDir() && (w.opts.Depth == nil || level+1 <= *w.opts.Depth) && !slices.Contains(up, idOf(info)) {
				if walkFrom(path, info, level+1, up) {
					return true
				}
			} else if err := visit(path, info, level+1, false); err != nil && fail(err) {
				return true
			}
		}
		return false
	}
	walkFrom(root, fi, level, nil)
	return first
}

type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(st.Dev), st.Ino}
	}
	return fileID{}
}

// addTree watches root, at level, and every directory below it that is
// entered. A watched path that is a file is watched itself.
func (w *Watcher) addTree(root string, level int) error {
	err := w.walk(root, level, false, func(path string, fi fs.FileInfo, level int, entered bool) error {
		if !entered && path != root {
			return nil
		}
		if err := w.fs.Add(path); err != nil {
			return fmt.Errorf("--watch %s: %w", path, inotifyHint(err))
		}
		if entered {
			w.levels[path] = level
		}
		return nil
	})
	if err != nil && !strings.HasPrefix(err.Error(), "--watch") {
		err = fmt.Errorf("--watch %s: %w", root, err)
	}
	return err
}

// walkAll is what polling sees of every watched path, and the first error
// on the way (what it concerns is left out).
func (w *Watcher) walkAll() (map[string]entry, error) {
	snap := map[string]entry{}
	var first error
	for _, root := range w.roots {
		err := w.walk(root, 0, true, func(path string, fi fs.FileInfo, _ int, _ bool) error {
			e := entry{dir: fi.IsDir()}
			if !e.dir { // a directory's own times change with its entries, which are compared one by one
				e.size, e.mtime, e.ino = fi.Size(), fi.ModTime().UnixNano(), idOf(fi).ino
			}
			snap[path] = e
			return nil
		})
		if err != nil && first == nil {
			first = fmt.Errorf("--watch %s: %w", root, err)
		}
	}
	return snap, first
}

// poll walks the trees again and returns what changed since the last walk,
// sorted. A watched path that is gone is a change, not an error; another
// error is reported once, until it changes.
func (w *Watcher) poll() []string {
	snap, err := w.walkAll()
	switch {
	case err == nil || errors.Is(err, fs.ErrNotExist):
		w.lastErr = ""
	case err.Error() != w.lastErr:
		w.lastErr = err.Error()
		w.failed(err)
	}
	var changes []string
	for path, e := range snap {
		if old, ok := w.snapshot[path]; !ok || old != e {
			changes = append(changes, path)
		}
	}
	for path := range w.snapshot {
		if _, ok := snap[path]; !ok {
			changes = append(changes, path)
		}
	}
	w.snapshot = snap
	slices.Sort(changes)
	return changes
}

// inotifyHint turns "no space left on device" into what it means here.
func inotifyHint(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
		return fmt.Errorf("out of inotify watches or instances (raise fs.inotify.max_user_watches / max_user_instances): %w", err)
	}
	return err
}

func (w *Watcher) run() {
	var events <-chan fsnotify.Event
	var errs <-chan error
	var pollTick, awaitTick <-chan time.Time
	if w.fs != nil {
		events, errs = w.fs.Events, w.fs.Errors
	} else {
		t := time.NewTicker(w.opts.PollInterval)
		defer t.Stop()
		pollTick = t.C
	}
	if w.opts.AwaitWriteFinish > 0 {
		t := time.NewTicker(min(awaitPoll, w.opts.AwaitWriteFinish))
		defer t.Stop()
		awaitTick = t.C
	}
	var debounce <-chan time.Time
	var first string
	report := func(path string) {
		if w.trace != nil {
			w.trace(path)
		}
		if debounce == nil {
			first = path
		}
		debounce = time.After(w.opts.Delay)
	}
	// seen takes a change: written files wait for AwaitWriteFinish, the
	// rest count at once.
	seen := func(path string, removed bool) {
		if w.opts.AwaitWriteFinish > 0 && !removed {
			if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
				w.awaiting[path] = awaiting{size: fi.Size(), since: time.Now()}
				return
			}
		}
		delete(w.awaiting, path)
		report(path)
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			if w.ignored(ev.Name) || ev.Op == fsnotify.Chmod {
				continue
			}
			removed := ev.Op.Has(fsnotify.Remove) || ev.Op.Has(fsnotify.Rename)
			if removed {
				delete(w.levels, ev.Name)
			}
			if ev.Op.Has(fsnotify.Create) {
				w.addCreated(ev.Name)
			}
			seen(ev.Name, removed)
		case <-pollTick:
			for _, path := range w.poll() {
				_, exists := w.snapshot[path]
				seen(path, !exists)
			}
		case now := <-awaitTick:
			var stable []string
			for path, a := range w.awaiting {
				fi, err := os.Stat(path)
				switch {
				case err != nil: // removed meanwhile: that is the change
					stable = append(stable, path)
				case fi.Size() != a.size:
					w.awaiting[path] = awaiting{size: fi.Size(), since: now}
				case now.Sub(a.since) >= w.opts.AwaitWriteFinish:
					stable = append(stable, path)
				}
			}
			slices.Sort(stable)
			for _, path := range stable {
				delete(w.awaiting, path)
				report(path)
			}
		case <-debounce:
			debounce = nil
			w.changed(first)
		case err, ok := <-errs:
			if !ok {
				return
			}
			w.failed(inotifyHint(err))
		case <-w.stopped:
			return
		}
	}
}

// addCreated watches a directory created under a watched one, as deep as
// Depth and NoFollowSymlinks allow.
func (w *Watcher) addCreated(path string) {
	fi, err := os.Lstat(path)
	if err != nil {
		return
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if w.opts.NoFollowSymlinks {
			return
		}
		if fi, err = os.Stat(path); err != nil {
			return
		}
	}
	if !fi.IsDir() {
		return
	}
	level := w.levels[filepath.Dir(path)] + 1
	if w.opts.Depth != nil && level > *w.opts.Depth {
		return
	}
	if err := w.addTree(path, level); err != nil {
		w.failed(fmt.Errorf("a new directory is not watched: %w", err))
	}
}

// Close stops watching.
func (w *Watcher) Close() {
	close(w.stopped)
	if w.fs != nil {
		w.fs.Close()
	}
}

// Paths makes --watch paths absolute against dir, so a reload that
// changes the working directory does not change what is watched.
func Paths(paths []string, dir string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		out[i] = strings.TrimSuffix(p, "/")
	}
	return out
}
