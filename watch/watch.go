// Package watch reports changes under a set of paths, for --watch: every
// directory below them is watched (github.com/fsnotify/fsnotify does the
// inotify work), directories created later too, ignored names never count,
// and a burst of changes within the delay is one change.
package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// defaultWatchIgnore never triggers a reload: version control, dependency
// trees, logs, and clusterd's own files (matched by name below).
var defaultWatchIgnore = []string{".git", "node_modules", "*.log", "*.sock", "*.pid", "*.swp", "*~"}

// Watcher watches trees of files until Close.
type Watcher struct {
	fs      *fsnotify.Watcher
	ignore  []string
	delay   time.Duration
	changed func(first string)
	failed  func(error)
	stopped chan struct{}
}

// Start watches every path (made absolute against dir) and the
// directories below it. changed gets the first changed path of each burst;
// failed gets what goes wrong later (a new directory that cannot be
// watched). Both run on the watcher's goroutine. ignore adds globs to the
// defaults.
func Start(paths []string, ignore []string, delay time.Duration, changed func(first string), failed func(error)) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("--watch: %w", inotifyHint(err))
	}
	w := &Watcher{fs: fw, ignore: append(append([]string{}, defaultWatchIgnore...), ignore...),
		delay: delay, changed: changed, failed: failed, stopped: make(chan struct{})}
	for _, root := range paths {
		if err := w.addTree(root); err != nil {
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

// addTree watches root and every directory below it that is not ignored.
func (w *Watcher) addTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("--watch %s: %w", root, err)
		}
		if !d.IsDir() {
			return nil
		}
		if path != root && w.ignored(path) {
			return filepath.SkipDir
		}
		if err := w.fs.Add(path); err != nil {
			return fmt.Errorf("--watch %s: %w", path, inotifyHint(err))
		}
		return nil
	})
}

// inotifyHint turns "no space left on device" into what it means here.
func inotifyHint(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
		return fmt.Errorf("out of inotify watches or instances (raise fs.inotify.max_user_watches / max_user_instances): %w", err)
	}
	return err
}

func (w *Watcher) run() {
	var debounce <-chan time.Time
	var first string
	for {
		select {
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.ignored(ev.Name) || ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Op.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					if err := w.addTree(ev.Name); err != nil {
						w.failed(fmt.Errorf("a new directory is not watched: %w", err))
					}
				}
			}
			if debounce == nil {
				first = ev.Name
			}
			debounce = time.After(w.delay)
		case <-debounce:
			debounce = nil
			w.changed(first)
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.failed(inotifyHint(err))
		case <-w.stopped:
			return
		}
	}
}

// Close stops watching.
func (w *Watcher) Close() {
	close(w.stopped)
	w.fs.Close()
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
