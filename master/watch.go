package master

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

// Watch mode: a change under --watch triggers the normal ready-gated
// rolling reload, so a save that breaks the program aborts the reload and
// the old workers keep serving (PM2's watch restarts abruptly). A burst of
// saves within --watch-delay is one reload; directories created later are
// watched too. github.com/fsnotify/fsnotify does the inotify work.

// defaultWatchIgnore never triggers a reload: version control, dependency
// trees, logs, and clusterd's own files (matched by name below).
var defaultWatchIgnore = []string{".git", "node_modules", "*.log", "*.sock", "*.pid", "*.swp", "*~"}

type watcher struct {
	m       *Master
	fs      *fsnotify.Watcher
	ignore  []string
	delay   time.Duration
	stopped chan struct{}
}

func (m *Master) startWatch() error {
	if len(m.cfg.Watch) == 0 {
		return nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("--watch: %w", inotifyHint(err))
	}
	w := &watcher{m: m, fs: fw, ignore: append(append([]string{}, defaultWatchIgnore...), m.cfg.WatchIgnore...),
		delay: m.cfg.WatchDelay, stopped: make(chan struct{})}
	for _, root := range m.cfg.Watch {
		if err := w.addTree(root); err != nil {
			fw.Close()
			return err
		}
	}
	m.watcher = w
	go w.run()
	return nil
}

func (w *watcher) ignored(path string) bool {
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
func (w *watcher) addTree(root string) error {
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

func (w *watcher) run() {
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
						w.m.post(func() { w.m.log.Error("watch mode: a new directory is not watched", "err", err) })
					}
				}
			}
			if debounce == nil {
				first = ev.Name
			}
			debounce = time.After(w.delay)
		case <-debounce:
			debounce = nil
			changed := first
			w.m.post(func() {
				w.m.log.Info("watch mode: files changed, rolling reload", "first_change", changed)
				w.m.requestReload(func(err error) {
					if err != nil {
						w.m.log.Error("watch mode: the reload after a change was aborted; the old workers keep serving", "err", err)
					}
				})
			})
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.m.post(func() { w.m.log.Error("watch mode", "err", inotifyHint(err)) })
		case <-w.stopped:
			return
		}
	}
}

func (w *watcher) close() {
	close(w.stopped)
	w.fs.Close()
}

// watchPaths makes --watch paths absolute against dir, so a reload that
// changes the working directory does not change what is watched.
func watchPaths(paths []string, dir string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		out[i] = strings.TrimSuffix(p, "/")
	}
	return out
}
