package appfile

import (
	"strings"
	"testing"
	"time"
)

// Each format is written as day.js writes it (PM2's log_date_format), so the
// log lines read the same under clusterd as under PM2.
func TestGoTimeLayout(t *testing.T) {
	at := time.Date(2026, time.March, 7, 9, 5, 3, 45_000_000, time.FixedZone("CET", 3600))
	for _, c := range []struct{ format, layout, dayjs string }{
		{"YYYY-MM-DD HH:mm:ss", "2006-01-02 15:04:05", "2026-03-07 09:05:03"},
		{"YYYY-MM-DDTHH:mm:ss", "2006-01-02T15:04:05", "2026-03-07T09:05:03"}, // what time: true means
		{"YYYY-MM-DD HH:mm Z", "2006-01-02 15:04 -07:00", "2026-03-07 09:05 +01:00"},
		{"YYYY-MM-DD HH:mm:ss.SSS ZZ", "2006-01-02 15:04:05.000 -0700", "2026-03-07 09:05:03.045 +0100"},
		{"DD/MM/YY hh:mm:ss A", "02/01/06 03:04:05 PM", "07/03/26 09:05:03 AM"},
		{"MMM D, YYYY h:mm a", "Jan 2, 2006 3:04 pm", "Mar 7, 2026 9:05 am"},
		{"dddd, MMMM D", "Monday, January 2", "Saturday, March 7"},
		{"[at] HH:mm", "at 15:04", "at 09:05"},
		{"M/D H:m:s", "1/2 15:4:5", "3/7 09:5:3"}, // H is padded: Go has no other
	} {
		layout, err := GoTimeLayout(c.format)
		if err != nil {
			t.Errorf("%q: %v", c.format, err)
			continue
		}
		if layout != c.layout {
			t.Errorf("%q is %q, want %q", c.format, layout, c.layout)
		}
		if got := at.Format(layout); got != c.dayjs {
			t.Errorf("%q prints %q, day.js %q", c.format, got, c.dayjs)
		}
	}
	for _, c := range []struct{ format, why string }{
		{"X", "X has no Go time layout"},
		{"Do MMM", "Do has no Go time layout"},
		{"HH:mm:ss SSS", "without a . or ,"},
		{"YYYY [week 1]", "would read as a time field"},
		{"[at HH", "without its ]"},
	} {
		if _, err := GoTimeLayout(c.format); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%q: error %v, want one saying %q", c.format, err, c.why)
		}
	}
}
