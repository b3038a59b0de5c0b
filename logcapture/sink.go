package logcapture

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"gopkg.in/natefinch/lumberjack.v2"
)

// logSink is one place captured lines go. Write is called with whole lines
// only (one or several), from several goroutines.
type logSink interface {
	io.Writer
	name() string
	// reopen reopens a file by its name (logrotate moved it away).
	reopen() error
	close() error
}

// openLogSink opens a log file for appending. With maxSize it is a
// lumberjack.Logger, which rotates the file itself and keeps maxFiles old
// ones; otherwise a plain file, which logrotate may rotate (SIGUSR1).
func openLogSink(path string, maxSize int64, maxFiles int) (logSink, error) {
	f, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	if maxSize == 0 {
		return &fileSink{path: path, f: f}, nil
	}
	// lumberjack opens and renames files by name, following links: where
	// another user may write the directory, a root master would let them
	// point it at any file.
	if err := checkRotationDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	// lumberjack opens the file on the first write; opening it here once
	// makes a bad path fail the start instead.
	f.Close()
	return &rotatingSink{&lumberjack.Logger{
		Filename:   path,
		MaxSize:    int(maxSize >> 20),
		MaxBackups: maxFiles,
		LocalTime:  true, // as the lines' own timestamps
	}}, nil
}

// openLogFile opens path for appending, creating it 0640. It never follows
// a symbolic link, and takes a regular file only with one link: a worker's
// user who can write the log directory must not make the master (root,
// often) append to a file of its choosing. A FIFO (a log reader) or a
// character device (/dev/null) is fine; O_NONBLOCK keeps a FIFO without a
// reader from hanging the open, which then fails instead.
func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o640)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("log file %s is a symbolic link: refusing to follow it (give the real path)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		st, _ := fi.Sys().(*syscall.Stat_t)
		switch {
		case !fi.Mode().IsRegular() && fi.Mode()&(fs.ModeNamedPipe|fs.ModeCharDevice) == 0:
			// A FIFO (a log reader) and /dev/null are fine outputs.
			err = fmt.Errorf("log file %s is not a file, a FIFO or a character device", path)
		case fi.Mode().IsRegular() && st != nil && st.Nlink > 1:
			err = fmt.Errorf("log file %s has %d hard links: refusing to write to a file linked from elsewhere", path, st.Nlink)
		}
	}
	if err == nil {
		err = syscall.SetNonblock(int(f.Fd()), false)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkRotationDir refuses, for a root master, a directory that another
// user can write: rotation opens and renames files by name.
func checkRotationDir(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("log directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && (st.Uid != 0 || fi.Mode().Perm()&0o022 != 0) {
		return fmt.Errorf("--log-max-size: log directory %s can be written by uid %d or others, and a root master rotating there could be led to any file by a link: rotate with logrotate, or use a directory only root writes", dir, st.Uid)
	}
	return nil
}

// fileSink is a log file that logrotate rotates: reopen switches to a new
// file of the same name, between two lines.
type fileSink struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (s *fileSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Write(p)
}

func (s *fileSink) name() string { return s.path }

func (s *fileSink) reopen() error {
	f, err := openLogFile(s.path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.f
	s.f = f
	s.mu.Unlock()
	return old.Close()
}

func (s *fileSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// rotatingSink is a log file that rotates itself (--log-max-size).
type rotatingSink struct{ l *lumberjack.Logger }

// Write is whole under lumberjack's own lock.
func (s *rotatingSink) Write(p []byte) (int, error) { return s.l.Write(p) }
func (s *rotatingSink) name() string                { return s.l.Filename }

// reopen closes the file; lumberjack opens it again by its name on the
// next write, so an outside rotation works here too.
func (s *rotatingSink) reopen() error { return s.l.Close() }
func (s *rotatingSink) close() error  { return s.l.Close() }

// consoleSink is the master's own stdout or stderr.
type consoleSink struct {
	f     *os.File
	label string
}

func (s *consoleSink) Write(p []byte) (int, error) { return s.f.Write(p) }
func (s *consoleSink) name() string                { return s.label }
func (s *consoleSink) reopen() error               { return nil }
func (s *consoleSink) close() error                { return nil }

// console is where lines go without a log file. Go serialises the writes
// to one *os.File (each Write holds the descriptor's write lock until all of
// it is written), and the master's own slog lines go to os.Stderr. When
// stdout and stderr are one file (a terminal, 2>&1, one pipe), stdout lines
// are written through os.Stderr too, so a long line written to one can
// never interleave with a line written to the other.
var console = sync.OnceValue(func() [2]*consoleSink {
	stdout := os.Stdout
	out, err1 := os.Stdout.Stat()
	errs, err2 := os.Stderr.Stat()
	if err1 == nil && err2 == nil && os.SameFile(out, errs) {
		stdout = os.Stderr
	}
	return [2]*consoleSink{{stdout, "stdout"}, {os.Stderr, "stderr"}}
})
