package logcapture

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReadHistoryReadsItsOwnFilesBack: the last lines of a log file written
// in either format come back as the lines that were written (stream, slot,
// pid, text, time), across read blocks, and a line another program wrote
// comes back as it is.
func TestReadHistoryReadsItsOwnFilesBack(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for _, format := range []LogFormat{{TimeLayout: DefaultTimeFormat}, {TimeLayout: DefaultTimeFormat, JSON: true}, {}} {
		path := filepath.Join(t.TempDir(), "app.log")
		var b []byte
		const lines = 5000 // about 400 KiB: several blocks
		for i := range lines {
			stream := []string{"out", "err"}[i%2]
			b = format.Append(b, &LogLine{Time: at.Add(time.Duration(i) * time.Millisecond), App: "api", Slot: i % 3, PID: 100 + i,
				Stream: stream, Line: "line " + strconv.Itoa(i) + " | with a bar"})
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadHistory(path, 3, format.TimeLayout)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%+v: got %d lines, want 3", format, len(got))
		}
		for k, l := range got {
			i := lines - 3 + k
			want := LogLine{App: "api", Slot: i % 3, PID: 100 + i, Stream: []string{"out", "err"}[i%2], Line: "line " + strconv.Itoa(i) + " | with a bar"}
			if format.TimeLayout != "" {
				want.Time = at.Add(time.Duration(i) * time.Millisecond)
			}
			if !l.Time.Equal(want.Time) || l.App != want.App || l.Slot != want.Slot || l.PID != want.PID || l.Stream != want.Stream || l.Line != want.Line {
				t.Errorf("%+v: line %d read back as %+v, want %+v", format, k, l, want)
			}
		}
		all, err := ReadHistory(path, lines+10, format.TimeLayout)
		if err != nil || len(all) != lines || !strings.HasPrefix(all[0].Line, "line 0 ") {
			t.Errorf("%+v: asking for more than there is: %d lines (%v), first %q", format, len(all), err, all[0].Line)
		}
	}
	foreign := filepath.Join(t.TempDir(), "other.log")
	os.WriteFile(foreign, []byte("written by logrotate's postrotate\n"), 0o600)
	if got, err := ReadHistory(foreign, 5, DefaultTimeFormat); err != nil || len(got) != 1 || got[0].Line != "written by logrotate's postrotate" {
		t.Errorf("a foreign line: %+v, %v", got, err)
	}
}
