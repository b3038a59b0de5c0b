package logcapture

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// History: `clusterd logs` reads the log files back when they hold more
// than the master's memory (a longer --lines, a master that was restarted
// or is stopped), as `pm2 logs` does. Files are read from their end, at most
// maxHistoryBytes, so a huge log costs no more than its tail.

// maxHistoryBytes bounds what one ReadHistory reads of a file.
const maxHistoryBytes = 8 << 20

// textLine matches Append's text form: "[TIME ]APP/SLOT[PID] STREAM | LINE".
var textLine = regexp.MustCompile(`^(?:(.*) )?([^ /]+)/(\d+)\[(\d+)\] (out|err) \| (.*)$`)

// ParseLine reads one line of a log file back into a LogLine: clusterd's
// text form (its time read with layout, when given) or its JSON form. A
// line in neither (the file was written by something else) comes back as
// it is, in Line, with ok false.
func ParseLine(text, layout string) (l LogLine, ok bool) {
	if strings.HasPrefix(text, "{") {
		var record struct {
			Time   string  `json:"time"`
			App    string  `json:"app"`
			Slot   int     `json:"slot"`
			PID    int     `json:"pid"`
			Stream string  `json:"stream"`
			Line   *string `json:"line"`
		}
		if json.Unmarshal([]byte(text), &record) == nil && record.Line != nil {
			l = LogLine{App: record.App, Slot: record.Slot, PID: record.PID, Stream: record.Stream, Line: *record.Line}
			if layout != "" {
				l.Time, _ = time.Parse(layout, record.Time)
			}
			return l, true
		}
	}
	m := textLine.FindStringSubmatch(text)
	if m == nil {
		return LogLine{Line: text}, false
	}
	l = LogLine{App: m[2], Stream: m[5], Line: m[6]}
	l.Slot, _ = strconv.Atoi(m[3])
	l.PID, _ = strconv.Atoi(m[4])
	if layout != "" && m[1] != "" {
		l.Time, _ = time.Parse(layout, m[1])
	}
	return l, true
}

// ReadHistory returns the last n lines of the log file at path, parsed
// with ParseLine (n <= 0: none).
func ReadHistory(path string, n int, layout string) ([]LogLine, error) {
	if n <= 0 {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	// Read backwards in blocks until n line ends are in hand.
	const block = 64 << 10
	var tail []byte
	for off := size; off > 0 && bytes.Count(tail, []byte{'\n'}) <= n && int64(len(tail)) < maxHistoryBytes; {
		step := min(int64(block), off)
		off -= step
		buf := make([]byte, step)
		if _, err := f.ReadAt(buf, off); err != nil {
			return nil, err
		}
		tail = append(buf, tail...)
		if off == 0 {
			tail = append([]byte{'\n'}, tail...) // the first line is whole
		}
	}
	text := strings.TrimSuffix(string(tail), "\n")
	lines := strings.Split(text, "\n")
	lines = lines[1:] // a partial line, or the marker of the file's start
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]LogLine, 0, len(lines))
	for _, line := range lines {
		l, _ := ParseLine(line, layout)
		out = append(out, l)
	}
	return out, nil
}
