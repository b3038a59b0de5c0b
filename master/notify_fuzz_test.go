package master

import (
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
		n := parseNotify(msg)
		if strings.ContainsAny(n.status, "\n") {
			t.Fatalf("parseNotify(%q): STATUS %q spans lines", msg, n.status)
		}
		if n.status != "" && !strings.Contains(msg, "STATUS="+n.status) {
			t.Fatalf("parseNotify(%q): STATUS %q is not in the message", msg, n.status)
		}
		for field, got := range map[string]bool{"READY=1": n.ready, "STOPPING=1": n.stopping, "WATCHDOG=1": n.watchdog} {
			if got && !strings.Contains(msg, field) {
				t.Fatalf("parseNotify(%q) took %s from a message without it", msg, field)
			}
		}
		if after := parseNotify(msg + "\nREADY=1\nSTOPPING=0"); !after.ready || after.stopping || after.watchdog != n.watchdog {
			t.Fatalf("parseNotify(%q + READY=1, STOPPING=0) = %+v: a later assignment must win, the rest stay", msg, after)
		}
		if blanks := parseNotify(" \t" + msg + " \n"); blanks != n {
			t.Fatalf("parseNotify(%q) = %+v, with blanks around it %+v", msg, n, blanks)
		}
	})
}
