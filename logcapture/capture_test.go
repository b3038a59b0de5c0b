package logcapture

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/clusterd/clusterd/internal/proctest"
	"golang.org/x/sys/unix"
)

var testTime = time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

// memorySink records what is written to it; every Write must be whole
// lines.
type memorySink struct {
	mu     sync.Mutex
	writes []string
	// block, when set, holds every Write until it is closed.
	block chan struct{}
}

func (s *memorySink) Write(p []byte) (int, error) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, string(p))
	return len(p), nil
}

// lines returns the lines written, each with its newline.
func (s *memorySink) lines(t *testing.T) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	for _, w := range s.writes {
		if !strings.HasSuffix(w, "\n") {
			t.Errorf("a write ends inside a line: %.80q", w[max(0, len(w)-80):])
		}
		lines = append(lines, strings.SplitAfter(w, "\n")...)
		lines = lines[:len(lines)-1] // after the last newline
	}
	return lines
}

func (s *memorySink) name() string  { return "memory" }
func (s *memorySink) reopen() error { return nil }
func (s *memorySink) close() error  { return nil }

func testCapture(format LogFormat) (c *Capture, stdout, stderr *memorySink) {
	stdout, stderr = &memorySink{}, &memorySink{}
	c = &Capture{
		app: "web", format: format, now: func() time.Time { return testTime },
		log: slog.New(slog.DiscardHandler), ring: newRing(ringLines, ringBytes),
	}
	c.dests[stdoutStream] = []*logOutput{{logSink: stdout}}
	c.dests[stderrStream] = []*logOutput{{logSink: stderr}}
	return c, stdout, stderr
}

func TestLinesArePrefixedAndSplit(t *testing.T) {
	c, out, _ := testCapture(LogFormat{})
	// One byte per read: every line is assembled from several reads.
	c.read(iotest.OneByteReader(strings.NewReader("first\r\nsecond\n\nlast words")), logSource{slot: 2, pid: 42})
	want := []string{
		"web/2[42] out | first\n",
		"web/2[42] out | second\n",
		"web/2[42] out | \n",
		"web/2[42] out | last words\n",
	}
	if got := out.lines(t); strings.Join(got, "") != strings.Join(want, "") || len(got) != len(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := c.ring.Last(1); len(got) != 1 || got[0].Line != "last words" || got[0].PID != 42 || got[0].Stream != "out" {
		t.Errorf("ring has %+v", got)
	}
}

func TestFormats(t *testing.T) {
	l := &LogLine{Time: testTime, App: "web", Slot: 1, PID: 4242, Stream: "err", Line: `a <b> & "c"`}
	if got := string(LogFormat{TimeLayout: DefaultTimeFormat}.Append(nil, l)); got != "2026-03-04T05:06:07.891Z web/1[4242] err | a <b> & \"c\"\n" {
		t.Errorf("text: %q", got)
	}
	got := LogFormat{TimeLayout: DefaultTimeFormat, JSON: true}.Append([]byte("keep:"), l)
	if !bytes.HasPrefix(got, []byte("keep:")) || !bytes.HasSuffix(got, []byte("\n")) {
		t.Fatalf("JSON not appended as one line: %q", got)
	}
	var rec map[string]any
	if err := json.Unmarshal(got[len("keep:"):], &rec); err != nil {
		t.Fatalf("JSON line does not parse: %v: %q", err, got)
	}
	want := map[string]any{"time": "2026-03-04T05:06:07.891Z", "app": "web", "slot": 1.0, "pid": 4242.0, "stream": "err", "line": `a <b> & "c"`}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("JSON %s = %v, want %v", k, rec[k], v)
		}
	}
	if bytes.Contains(got, []byte(`\u003c`)) {
		t.Errorf("JSON escapes HTML characters, which no log reader wants: %s", got)
	}
	noTime := LogFormat{JSON: true}.Append(nil, l)
	if bytes.Contains(noTime, []byte(`"time"`)) {
		t.Errorf("JSON without time still has one: %s", noTime)
	}
}

// A line longer than the pipe (64 KiB) and than the read buffer arrives
// whole, through a real pipe written in small pieces.
func TestLongLineThroughAPipeArrivesWhole(t *testing.T) {
	c, out, errs := testCapture(LogFormat{})
	o, err := OpenPipes()
	if err != nil {
		t.Fatal(err)
	}
	// Our own copies of the write ends, standing in for the worker's.
	var w [2]int
	for i := range w {
		if w[i], err = unix.Dup(o.write[i]); err != nil {
			t.Fatal(err)
		}
	}
	c.Start(o, 0, 7)
	long := strings.Repeat("0123456789abcdef", 100<<10/16) // 100 KiB
	data := []byte("short\n" + long + "\n" + "partial")
	for len(data) > 0 {
		n, err := unix.Write(w[stdoutStream], data[:min(len(data), 1000)])
		if err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	unix.Write(w[stderrStream], []byte("oops\n"))
	unix.Close(w[0])
	unix.Close(w[1])
	c.readers.Wait()
	want := []string{"web/0[7] out | short\n", "web/0[7] out | " + long + "\n", "web/0[7] out | partial\n"}
	got := out.lines(t)
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
	if got := errs.lines(t); len(got) != 1 || got[0] != "web/0[7] err | oops\n" {
		t.Errorf("stderr: %q", got)
	}
}

// A worker that never writes a newline cannot make the master buffer
// without bound: its output is cut every maxLogLine bytes, never inside a
// UTF-8 sequence, and nothing is lost.
func TestEndlessLineIsCutAtTheCap(t *testing.T) {
	c, out, _ := testCapture(LogFormat{})
	// "é" (2 bytes) after an odd prefix: some rune straddles each cut.
	input := "x" + strings.Repeat("é", maxLogLine) + "\n"
	c.read(strings.NewReader(input), logSource{})
	var joined strings.Builder
	got := out.lines(t)
	for i, l := range got {
		text := strings.TrimSuffix(strings.TrimPrefix(l, "web/0[0] out | "), "\n")
		if len(text) > maxLogLine || !utf8.ValidString(text) {
			t.Errorf("piece %d: %d bytes, valid UTF-8 %v", i, len(text), utf8.ValidString(text))
		}
		joined.WriteString(text)
	}
	if len(got) != 3 || joined.String()+"\n" != input {
		t.Errorf("%d pieces, %d bytes in all; want 3 pieces and the %d bytes back", len(got), joined.Len(), len(input)-1)
	}
}

// While an output is stalled, its readers wait (the worker's pipe fills:
// back-pressure), but the ring behind `clusterd logs` still has the lines.
func TestStalledOutputStillFeedsTheRing(t *testing.T) {
	c, out, _ := testCapture(LogFormat{})
	out.block = make(chan struct{})
	done := make(chan struct{})
	go func() {
		c.read(strings.NewReader("one\n"), logSource{slot: 0, pid: 1})
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.ring.Last(1)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the line never reached the ring")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("the reader finished although its output is stalled")
	default:
	}
	close(out.block)
	<-done
	if got := out.lines(t); len(got) != 1 {
		t.Errorf("after the stall: %q", got)
	}
}

func TestLogDestinations(t *testing.T) {
	dir := t.TempDir()
	both, outFile, errFile := filepath.Join(dir, "all.log"), filepath.Join(dir, "out.log"), filepath.Join(dir, "err.log")
	cases := []struct {
		name            string
		cfg             Options
		wantOut, wantEr []string
	}{
		{"console", Options{}, []string{"stdout"}, []string{"stderr"}},
		{"one file", Options{LogFile: both}, []string{both}, []string{both}},
		{"out only", Options{OutFile: outFile}, []string{outFile}, []string{"stderr"}},
		{"both kinds", Options{LogFile: both, OutFile: outFile, ErrorFile: errFile}, []string{outFile, both}, []string{errFile, both}},
		{"same file twice", Options{LogFile: both, OutFile: both}, []string{both}, []string{both}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.closeFiles()
			for stream, want := range [2][]string{tc.wantOut, tc.wantEr} {
				var got []string
				for _, o := range c.dests[stream] {
					got = append(got, o.name())
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s goes to %v, want %v", streamNames[stream], got, want)
				}
			}
		})
	}
}

func TestLogOptionErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		cfg  Options
		want string
	}{
		{Options{LogMaxSize: 10 << 20}, "give --log, --out-file or --error-file"},
		{Options{LogFile: filepath.Join(dir, "a"), LogMaxSize: 1 << 20}, "at least 2M"},
		{Options{LogFile: filepath.Join(dir, "a"), LogMaxSize: 5<<20 + 1}, "whole number of megabytes"},
		{Options{LogFile: filepath.Join(dir, "a"), LogMaxFiles: -1}, "may not be negative"},
		{Options{LogFile: filepath.Join(dir, "no", "such", "dir", "a")}, "log file: open"},
	}
	for _, tc := range cases {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logrotate's way: move the file, then tell the master; new lines go to a
// new file of the old name, and none is lost.
func TestReopenAfterRename(t *testing.T) {
	for _, maxSize := range []int64{0, 2 << 20} {
		name := map[int64]string{0: "plain", 2 << 20: "rotating"}[maxSize]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			s, err := openLogSink(path, maxSize, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			s.Write([]byte("before\n"))
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			s.Write([]byte("moved\n"))
			if err := s.reopen(); err != nil {
				t.Fatal(err)
			}
			s.Write([]byte("after\n"))
			if got := readFile(t, path+".1"); got != "before\nmoved\n" {
				t.Errorf("old file: %q", got)
			}
			if got := readFile(t, path); got != "after\n" {
				t.Errorf("new file: %q", got)
			}
		})
	}
}

// --log-max-size: lumberjack rotates by itself and keeps --log-max-files.
func TestRotationBySize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	s, err := openLogSink(path, 2<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for range 5 << 10 { // 5 MiB: two rotations
		if _, err := s.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		// lumberjack removes surplus backups in its own goroutine.
		entries, _ := os.ReadDir(dir)
		files = files[:0]
		for _, e := range entries {
			files = append(files, e.Name())
		}
		if len(files) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(files) != 2 {
		t.Fatalf("files %v; want app.log and one backup", files)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 1<<20 {
		t.Errorf("current file: %v, %d bytes; want the 1 MiB written since the last rotation", err, fi.Size())
	}
}

// A worker's user who can write the log directory must not be able to make
// the master append to another file: links, FIFOs and hard-linked files
// are refused, at the start and at every reopen, and new files are 0640.
func TestLogFileIsNotFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shadow")
	os.WriteFile(target, []byte("secret\n"), 0o600)

	link := filepath.Join(dir, "link.log")
	os.Symlink(target, link)
	if _, err := openLogSink(link, 0, 0); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("a symlinked log file: %v", err)
	}
	fifo := filepath.Join(dir, "fifo.log")
	unix.Mkfifo(fifo, 0o600)
	if _, err := openLogSink(fifo, 0, 0); err == nil { // ENXIO with no reader: an error, never a hang
		t.Error("a FIFO without a reader was opened")
	}
	hard := filepath.Join(dir, "hard.log")
	os.Link(target, hard)
	if _, err := openLogSink(hard, 0, 0); err == nil || !strings.Contains(err.Error(), "hard links") {
		t.Errorf("a hard-linked log file: %v", err)
	}

	path := filepath.Join(dir, "app.log")
	s, err := openLogSink(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("a new log file is %o, want 640", fi.Mode().Perm())
	}
	// logrotate's move, then a link planted at the name: reopen refuses
	// it and keeps writing where it did.
	os.Rename(path, path+".1")
	os.Symlink(target, path)
	if err := s.reopen(); err == nil {
		t.Error("reopen followed a link planted at the log file's name")
	}
	s.Write([]byte("line\n"))
	if got, _ := os.ReadFile(target); string(got) != "secret\n" {
		t.Errorf("the link's target was written: %q", got)
	}
}

// A line that JSON escaping makes longer than a rotating file takes is cut
// to fit and marked, not lost whole.
func TestLongEscapedLineFitsARotatingFile(t *testing.T) {
	f := LogFormat{JSON: true}
	line := strings.Repeat("\x01", maxLogLine) // six bytes each once escaped
	rec := f.Append(nil, &LogLine{App: "a", Stream: "out", Line: line})
	if len(rec) > maxJSONRecord || len(rec) > minLogMaxSize {
		t.Fatalf("a record of %d bytes, over %d", len(rec), maxJSONRecord)
	}
	var got struct {
		Line      string `json:"line"`
		Truncated bool   `json:"truncated"`
	}
	if err := json.Unmarshal(rec, &got); err != nil || !got.Truncated || len(got.Line) == 0 {
		t.Fatalf("record %.80q: %v, truncated %v, %d bytes of line", rec, err, got.Truncated, len(got.Line))
	}
	path := filepath.Join(t.TempDir(), "app.log")
	s, err := openLogSink(path, minLogMaxSize, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := s.Write(rec); err != nil {
		t.Fatalf("the rotating file refused the record: %v", err)
	}
}

// A full disk (ENOSPC, here /dev/full) loses the lines written meanwhile,
// says so once, and stops nothing: the reader goes on and the ring keeps
// every line for `clusterd logs`.
func TestFullDiskLosesLinesNotTheWorker(t *testing.T) {
	var logged proctest.Buffer
	c, err := New(Options{Name: "app", LogFile: "/dev/full", Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.closeFiles()
	var input strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&input, "line %d\n", i)
	}
	c.read(strings.NewReader(input.String()), logSource{slot: 0, pid: 1})
	if got := c.ring.Last(1); len(got) != 1 || got[0].Line != "line 999" {
		t.Fatalf("the ring's last line is %v, want line 999", got)
	}
	if n := strings.Count(logged.String(), "writing worker output failed"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "no space left on device") {
		t.Errorf("the log does not say why: %s", logged.String())
	}
}
