package notify

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzParseNotify feeds sd_notify messages (a datagram, or one NOTIFY_FD line) to the
// master's parser. Besides not panicking: STATUS is one line of the message, the last
// assignment of a field wins, and leading or trailing blanks change nothing.
func FuzzParseNotify(f *testing.F) {
	for _, seed := range []string{
		"READY=1", "READY=1\nSTATUS=serving", "STOPPING=1", "WATCHDOG=1", "READY=0",
		"STATUS=a=b", " READY=1 \n", "READY=1\nREADY=0", "MAINPID=42\nREADY=1", "READY",
		"\n\n", "STATUS=\x1b[2Jgone", "X_UNKNOWN=1\nWATCHDOG=trigger", "EXTEND_TIMEOUT_USEC=5000000",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		n := Parse(msg)
		if strings.ContainsAny(n.Status, "\n") {
			t.Fatalf("Parse(%q): STATUS %q spans lines", msg, n.Status)
		}
		if n.Status != "" && !strings.Contains(msg, "STATUS="+n.Status) {
			t.Fatalf("Parse(%q): STATUS %q is not in the message", msg, n.Status)
		}
		for field, got := range map[string]bool{"READY=1": n.Ready, "STOPPING=1": n.Stopping, "WATCHDOG=1": n.Watchdog} {
			if got && !strings.Contains(msg, field) {
				t.Fatalf("Parse(%q) took %s from a message without it", msg, field)
			}
		}
		if after := Parse(msg + "\nREADY=1\nSTOPPING=0"); !after.Ready || after.Stopping || after.Watchdog != n.Watchdog {
			t.Fatalf("Parse(%q + READY=1, STOPPING=0) = %+v: a later assignment must win, the rest stay", msg, after)
		}
		if blanks := Parse(" \t" + msg + " \n"); blanks != n {
			t.Fatalf("Parse(%q) = %+v, with blanks around it %+v", msg, n, blanks)
		}
	})
}

// FuzzReadNotifyLines feeds bytes to the NOTIFY_FD pipe's reader and checks it against
// the plain reading: every line up to maxNotifyLine bytes (newline included) is
// delivered without its line ending, in order; a longer one is dropped and reported once.
func FuzzReadNotifyLines(f *testing.F) {
	huge := strings.Repeat("x", maxNotifyLine)
	for _, seed := range []string{
		"READY=1\n", "READY=1", "READY=1\r\nSTATUS=x\n\n", "", "\n", "\r\n",
		"STATUS=" + huge + "\nREADY=1\n", huge[1:] + "\n" + huge + "\n" + huge,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		var want []string
		wantTooLong := 0
		segments := strings.Split(string(input), "\n")
		for i, s := range segments {
			last := i == len(segments)-1
			switch {
			case last && s == "":
			case last && len(s) >= maxNotifyLine, !last && len(s)+1 > maxNotifyLine:
				wantTooLong++
			default:
				want = append(want, strings.TrimSuffix(s, "\r"))
			}
		}
		var got []string
		tooLong := 0
		readNotifyLines(bytes.NewReader(input), func(line string) { got = append(got, line) }, func() { tooLong++ })
		if !slices.Equal(got, want) || tooLong != wantTooLong {
			t.Fatalf("delivered %.200q and %d too long, want %.200q and %d", got, tooLong, want, wantTooLong)
		}
	})
}
