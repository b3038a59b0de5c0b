package logcapture

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Options say where captured lines go and how they are written: the log
// fields of the master's configuration, under the same names.
type Options struct {
	// Name is the app's, written in every line's prefix.
	Name string
	// LogFile gets both streams (--log); OutFile and ErrorFile one each.
	// A stream with no file goes to the master's own stdout or stderr.
	LogFile, OutFile, ErrorFile string
	// LogMaxSize, if positive, rotates each file at this size (a whole
	// number of MiB, at least 2 MiB), keeping LogMaxFiles old ones.
	LogMaxSize  int64
	LogMaxFiles int
	// LogTimeFormat is a Go time layout (empty: DefaultTimeFormat);
	// NoLogTime leaves the time out; LogJSON writes one object per line.
	LogTimeFormat string
	NoLogTime     bool
	LogJSON       bool
	// Logger gets what goes wrong with an output (a full disk).
	Logger *slog.Logger
}

// Worker output: the master reads every worker's stdout and stderr from
// pipes it owns, one goroutine per pipe, and writes each line whole, with a
// prefix naming the app, slot, PID and stream, to the log files or to its
// own stdout and stderr. The readers never touch the event loop: a worker
// that writes faster than its log drains is slowed down by its own full pipe
// (the back-pressure a terminal or a file gives too), and supervision goes
// on regardless.

// DefaultTimeFormat is the timestamp layout of captured lines: RFC 3339
// with milliseconds.
const DefaultTimeFormat = "2006-01-02T15:04:05.000Z07:00"

const (
	// maxLogLine caps one line. A longer one (a worker writing without
	// newlines) is cut into pieces of this size rather than buffered
	// without bound.
	maxLogLine = 1 << 20
	// minLogMaxSize: a rotating file must fit the longest line and its
	// prefix, since lumberjack refuses a write longer than its MaxSize.
	minLogMaxSize = 2 << 20
	// maxJSONRecord bounds one --log-json record, so it fits within
	// minLogMaxSize with room to spare.
	maxJSONRecord = maxLogLine + 64<<10
	// Lines shorter than readBufferSize cost one read; longer ones are
	// assembled from several.
	readBufferSize = 16 << 10
	// writeBatchSize: lines a reader already holds are written together,
	// up to about this many bytes per write.
	writeBatchSize = 64 << 10
	// The ring behind `clusterd logs`: the last ringLines lines, at most
	// about ringBytes of them.
	ringLines = 1000
	ringBytes = 8 << 20
	// readersTimeout bounds how long a stopping master waits for the last
	// lines of its workers: a worker's child that outlived it may hold the
	// pipe open for ever.
	readersTimeout = 2 * time.Second
)

type logStream int

const (
	stdoutStream logStream = iota
	stderrStream
)

var streamNames = [2]string{"out", "err"}

// LogFormat is how a captured line is written.
type LogFormat struct {
	// TimeLayout is a Go time layout; empty leaves the time out.
	TimeLayout string
	// JSON writes one object per line: time, app, slot, pid, stream, line.
	JSON bool
}

// Append appends l, formatted and with a trailing newline, to b. Text reads
// "TIME APP/SLOT[PID] STREAM | LINE".
func (f LogFormat) Append(b []byte, l *LogLine) []byte {
	if f.JSON {
		var when string
		if f.TimeLayout != "" {
			when = l.Time.Format(f.TimeLayout)
		}
		record := struct {
			Time      string `json:"time,omitempty"`
			App       string `json:"app"`
			Slot      int    `json:"slot"`
			PID       int    `json:"pid"`
			Stream    string `json:"stream"`
			Line      string `json:"line"`
			Truncated bool   `json:"truncated,omitempty"`
		}{when, l.App, l.Slot, l.PID, l.Stream, l.Line, false}
		start := len(b)
		for {
			buf := bytes.NewBuffer(b[:start])
			enc := json.NewEncoder(buf)
			enc.SetEscapeHTML(false)
			enc.Encode(record) // cannot fail: strings and ints; invalid UTF-8 becomes U+FFFD
			b = buf.Bytes()
			// Escaping may make a line up to six times longer (\u0001):
			// a record must still fit a rotating file, which refuses a
			// write over its size whole, so the line is cut until it does.
			if len(b)-start <= maxJSONRecord || record.Line == "" {
				return b
			}
			cut := len(record.Line) * maxJSONRecord / (len(b) - start) * 9 / 10
			record.Line, record.Truncated = record.Line[:utf8Cut([]byte(record.Line), max(cut, 0))], true
		}
	}
	if f.TimeLayout != "" {
		b = l.Time.AppendFormat(b, f.TimeLayout)
		b = append(b, ' ')
	}
	b = append(b, l.App...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(l.Slot), 10)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(l.PID), 10)
	b = append(b, "] "...)
	b = append(b, l.Stream...)
	b = append(b, " | "...)
	b = append(b, l.Line...)
	return append(b, '\n')
}

// Capture turns the output of every worker into log lines. It is safe
// for concurrent use and owns no state of the event loop.
type Capture struct {
	app    string
	format LogFormat
	now    func() time.Time
	log    *slog.Logger
	ring   *Ring
	// dests are where each stream's lines go; files are the file outputs
	// among them, once each, for reopen and close.
	dests   [2][]*logOutput
	files   []*logOutput
	readers sync.WaitGroup
}

// logOutput is one destination and whether writing to it fails.
type logOutput struct {
	logSink
	failing atomic.Bool
	lost    atomic.Int64
}

// New checks the log options and opens the log files. Both
// streams may go to one file (--log), each to its own (--out-file,
// --error-file), or both; a stream without a file goes to the master's own
// stdout or stderr.
func New(cfg Options) (*Capture, error) {
	var errs []error
	if cfg.LogMaxSize < 0 || cfg.LogMaxFiles < 0 {
		errs = append(errs, errors.New("--log-max-size and --log-max-files may not be negative"))
	}
	if cfg.LogMaxSize > 0 {
		switch {
		case cfg.LogFile == "" && cfg.OutFile == "" && cfg.ErrorFile == "":
			errs = append(errs, errors.New("--log-max-size rotates log files: give --log, --out-file or --error-file too"))
		case cfg.LogMaxSize < minLogMaxSize:
			errs = append(errs, fmt.Errorf("--log-max-size must be at least 2M (a line may be 1 MiB long), got %d bytes", cfg.LogMaxSize))
		case cfg.LogMaxSize%(1<<20) != 0:
			errs = append(errs, fmt.Errorf("--log-max-size must be a whole number of megabytes (the unit lumberjack rotates in), like 10M or 1G; got %d bytes", cfg.LogMaxSize))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	format := LogFormat{TimeLayout: cfg.LogTimeFormat, JSON: cfg.LogJSON}
	if cfg.NoLogTime {
		format.TimeLayout = ""
	} else if format.TimeLayout == "" {
		format.TimeLayout = DefaultTimeFormat
	}
	c := &Capture{app: cfg.Name, format: format, now: time.Now, log: cfg.Logger, ring: newRing(ringLines, ringBytes)}
	if c.log == nil {
		c.log = slog.Default()
	}
	byPath := map[string]*logOutput{}
	addFile := func(stream logStream, path string) error {
		if path == "" {
			return nil
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("log file %s: %w", path, err)
		}
		out := byPath[abs]
		if out == nil {
			sink, err := openLogSink(abs, cfg.LogMaxSize, cfg.LogMaxFiles)
			if err != nil {
				return err
			}
			out = &logOutput{logSink: sink}
			byPath[abs] = out
			c.files = append(c.files, out)
		}
		for _, o := range c.dests[stream] {
			if o == out {
				return nil // --log and --out-file name one file: write each line once
			}
		}
		c.dests[stream] = append(c.dests[stream], out)
		return nil
	}
	for _, f := range []struct {
		stream logStream
		path   string
	}{
		{stdoutStream, cfg.OutFile}, {stderrStream, cfg.ErrorFile},
		{stdoutStream, cfg.LogFile}, {stderrStream, cfg.LogFile},
	} {
		if err := addFile(f.stream, f.path); err != nil {
			c.closeFiles()
			return nil, err
		}
	}
	for stream, std := range console() {
		if len(c.dests[stream]) == 0 {
			c.dests[stream] = []*logOutput{{logSink: std}}
		}
	}
	return c, nil
}

// Pipes is the pair of pipes one worker writes its stdout and stderr
// to.
type Pipes struct {
	read  [2]*os.File
	write [2]int // handed to the worker as fds 1 and 2
}

func OpenPipes() (*Pipes, error) {
	o := &Pipes{write: [2]int{-1, -1}}
	for stream := range o.read {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			o.Close()
			return nil, fmt.Errorf("output pipe: %w", err)
		}
		// The read end joins Go's poller (non-blocking), so a reader
		// waiting on a quiet worker holds no OS thread. The write end is
		// a separate open file description and stays blocking: a worker's
		// stdout must behave as a terminal's or a file's would, since many
		// programs treat EAGAIN on stdout as fatal.
		unix.SetNonblock(p[0], true)
		o.read[stream] = os.NewFile(uintptr(p[0]), "worker "+streamNames[stream])
		o.write[stream] = p[1]
	}
	return o, nil
}

// stdio is the worker's stdout and stderr.
func (o *Pipes) Stdio() (stdout, stderr uintptr) {
	return uintptr(o.write[stdoutStream]), uintptr(o.write[stderrStream])
}

// closeWriteEnds drops the master's copies once the worker has them, so a
// reader sees EOF when the worker and every child that inherited its
// output have exited.
func (o *Pipes) closeWriteEnds() {
	for i, fd := range o.write {
		if fd >= 0 {
			unix.Close(fd)
			o.write[i] = -1
		}
	}
}

// close releases everything, for a worker that never started.
func (o *Pipes) Close() {
	o.closeWriteEnds()
	for _, r := range o.read {
		if r != nil {
			r.Close()
		}
	}
}

// capture reads a started worker's output until the worker and its
// children have closed it. Call it right after the fork.
func (c *Capture) Start(o *Pipes, slot, pid int) {
	o.closeWriteEnds()
	for stream, r := range o.read {
		c.readers.Add(1)
		go func() {
			defer c.readers.Done()
			defer r.Close()
			c.read(r, logSource{slot: slot, pid: pid, stream: logStream(stream)})
		}()
	}
}

type logSource struct {
	slot, pid int
	stream    logStream
}

// read splits one stream into lines. A line longer than the read buffer
// is assembled from several reads, up to maxLogLine; a last line without
// a newline is kept when the stream ends. "\r\n" counts as a newline.
func (c *Capture) read(r io.Reader, src logSource) {
	br := bufio.NewReaderSize(r, readBufferSize)
	var long []byte
	batch := &logBatch{stream: src.stream}
	defer c.flush(batch)
	for {
		if br.Buffered() == 0 {
			c.flush(batch) // the next read may wait for the worker
		}
		chunk, err := br.ReadSlice('\n')
		complete := err == nil
		if complete {
			chunk = chunk[:len(chunk)-1]
		}
		if len(long) > 0 || errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			for len(long) > maxLogLine {
				n := utf8Cut(long, maxLogLine)
				c.emit(batch, src, long[:n])
				long = long[:copy(long, long[n:])]
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			chunk = long
		}
		if complete {
			c.emit(batch, src, bytes.TrimSuffix(chunk, []byte{'\r'}))
		} else if len(chunk) > 0 {
			c.emit(batch, src, chunk)
		}
		long = long[:0]
		if cap(long) > 4*readBufferSize {
			long = nil // do not keep a megabyte for one long line
		}
		if err != nil {
			return // EOF: the worker and its children are gone
		}
	}
}

// utf8Cut returns where to cut b near n without splitting a UTF-8
// sequence.
func utf8Cut(b []byte, n int) int {
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return n
}

// logBatch holds the formatted lines a reader already has in hand, so a
// burst costs one write per output rather than one per line. The reader
// writes it out before any read that may wait, so a quiet worker's last
// line is never held back.
type logBatch struct {
	stream logStream
	buf    []byte
	lines  int
}

// emit records one line in the ring and adds it to the batch.
func (c *Capture) emit(b *logBatch, src logSource, line []byte) {
	l := LogLine{Time: c.now(), App: c.app, Slot: src.slot, PID: src.pid, Stream: streamNames[src.stream], Line: string(line)}
	c.ring.add(l)
	b.buf = c.format.Append(b.buf, &l)
	b.lines++
	if len(b.buf) >= writeBatchSize {
		c.flush(b)
	}
}

// flush writes the batch to each of its stream's outputs, in one call per
// output: whole lines only, so lines of several workers never mix within
// a line.
func (c *Capture) flush(b *logBatch) {
	if b.lines == 0 {
		return
	}
	for _, out := range c.dests[b.stream] {
		c.write(out, b.buf, b.lines)
	}
	b.buf, b.lines = b.buf[:0], 0
	if cap(b.buf) > 4*writeBatchSize {
		b.buf = nil // do not keep a megabyte after one long line
	}
}

// write writes whole lines in one call. A failing output (disk full, a
// reader gone) loses them: that is logged once when it starts and once,
// with the count, when it ends, but never stops a worker.
func (c *Capture) write(out *logOutput, lines []byte, n int) {
	if _, err := out.Write(lines); err != nil {
		out.lost.Add(int64(n))
		if !out.failing.Swap(true) {
			c.log.Error("writing worker output failed: lines are lost until it works again", "to", out.name(), "err", err)
		}
		return
	}
	if out.failing.Load() && out.failing.Swap(false) {
		c.log.Warn("writing worker output works again", "to", out.name(), "lost_lines", out.lost.Swap(0))
	}
}

// Reopen reopens every log file by its name: after logrotate moved a file
// away, new lines go to a new file of the old name. A file that cannot be
// reopened keeps receiving lines where it did. why is what asked for it
// (SIGUSR1, clusterd reopen-logs), for the log line that says how it went.
// Opening a file may block: not for an event loop.
func (c *Capture) Reopen(why string) error {
	if len(c.files) == 0 {
		c.log.Info(why + ": no log files to reopen")
		return nil
	}
	var errs []error
	for _, f := range c.files {
		if err := f.reopen(); err != nil {
			errs = append(errs, fmt.Errorf("reopen %s: %w", f.name(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.log.Error(why+": reopening log files failed", "err", err)
		return err
	}
	c.log.Info(why+": log files reopened", "files", len(c.files))
	return nil
}

// close waits for the last lines of the workers, then closes the files. If
// a reader is still busy after readersTimeout (its output is stalled, or a
// worker's child holds the pipe), it leaves the files open: every line
// written so far is already in them, nothing is buffered here.
func (c *Capture) Close() {
	done := make(chan struct{})
	go func() { c.readers.Wait(); close(done) }()
	select {
	case <-done:
		c.closeFiles()
	case <-time.After(readersTimeout):
		c.log.Warn("worker output not drained " + readersTimeout.String() + " after the workers exited (a log output is stalled, or a worker's child holds its pipe); not waiting for it")
	}
}

func (c *Capture) closeFiles() {
	for _, f := range c.files {
		f.close()
	}
}

// Ring is where `clusterd logs` reads the last lines and follows new ones.
func (c *Capture) Ring() *Ring { return c.ring }
