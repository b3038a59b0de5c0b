package notify

import (
	"bytes"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReadNotifyLinesDiscardsOverlong: a line over maxNotifyLine is dropped whole,
// reported once, and the lines after it still arrive; so does a last line without a
// newline, as before.
func TestReadNotifyLinesDiscardsOverlong(t *testing.T) {
	huge := strings.Repeat("x", 3*maxNotifyLine)
	input := "READY=0\n" +
		"STATUS=" + huge + "\n" +
		"STATUS=" + huge + "\r\n" + // two in a row: two reports
		"STATUS=after\r\n" +
		strings.Repeat("y", maxNotifyLine-1) + "\n" + // fits, newline included
		"\n" +
		"READY=1\n" +
		"STATUS=" + huge // over-long and cut off by EOF: dropped, reported
	var got []string
	tooLong := 0
	readNotifyLines(strings.NewReader(input), func(line string) { got = append(got, line) }, func() { tooLong++ })
	want := []string{"READY=0", "STATUS=after", strings.Repeat("y", maxNotifyLine-1), "", "READY=1"}
	if !slices.Equal(got, want) {
		t.Errorf("delivered %d lines %.60q, want %d %.60q", len(got), got, len(want), want)
	}
	if tooLong != 3 {
		t.Errorf("tooLong called %d times, want 3", tooLong)
	}

	got = nil
	readNotifyLines(strings.NewReader("WATCHDOG=1"), func(line string) { got = append(got, line) }, func() { t.Error("tooLong for a short line") })
	if !slices.Equal(got, []string{"WATCHDOG=1"}) {
		t.Errorf("last line without newline: delivered %q", got)
	}
}

// TestNotifyPipeOverlongLineKeepsReading writes over-long lines to a real endpoint's
// NOTIFY_FD pipe, then READY=1: the READY arrives (a line over 64 KiB used to stop the
// pipe's reader for good) and the master's log gets one warning, not one per line.
func TestNotifyPipeOverlongLineKeepsReading(t *testing.T) {
	e, err := Open(os.Getpid(), uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var logged bytes.Buffer
	e.log = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logged.Write(p) // by the pipe's reader, before it delivers READY=1
		return len(p), nil
	}), nil))
	messages := make(chan string, 16)
	e.Serve(os.Getpid(), uint32(os.Getuid()), func(msg string) { messages <- msg }, func(int32, int) {}, func() {})

	go func() {
		huge := "STATUS=" + strings.Repeat("x", 2*maxNotifyLine) + "\n"
		e.pipeW.WriteString(huge + huge + huge + "READY=1\n")
	}()
	select {
	case msg := <-messages:
		if msg != "READY=1" {
			t.Fatalf("got %.60q first, want READY=1", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("READY=1 written after over-long lines never arrived")
	}
	if n := strings.Count(logged.String(), "over 64 KiB"); n != 1 {
		t.Errorf("%d warnings for 3 over-long lines, want 1 (rate-limited):\n%s", n, logged.String())
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestReloadingMessage: RELOADING=1 carries the monotonic clock in
// microseconds, as Type=notify-reload wants.
func TestReloadingMessage(t *testing.T) {
	msg := ReloadingMessage()
	usec, ok := strings.CutPrefix(msg, "RELOADING=1\nMONOTONIC_USEC=")
	if n, err := strconv.ParseInt(usec, 10, 64); !ok || err != nil || n <= 0 {
		t.Fatalf("ReloadingMessage() = %q", msg)
	}
}
