package appfile

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	from := time.Date(2026, time.March, 7, 9, 5, 3, 0, time.UTC) // a Saturday
	for _, c := range []struct {
		pattern string
		want    time.Time
	}{
		{"0 3 * * *", time.Date(2026, time.March, 8, 3, 0, 0, 0, time.UTC)},
		{"*/15 * * * *", time.Date(2026, time.March, 7, 9, 15, 0, 0, time.UTC)},
		{"30 */2 * * *", time.Date(2026, time.March, 7, 10, 30, 0, 0, time.UTC)},
		{"0 0 * * mon", time.Date(2026, time.March, 9, 0, 0, 0, 0, time.UTC)},
		{"0 0 * * 7", time.Date(2026, time.March, 8, 0, 0, 0, 0, time.UTC)},
		{"0 12 1,15 * *", time.Date(2026, time.March, 15, 12, 0, 0, 0, time.UTC)},
		{"0 0 1 jan *", time.Date(2027, time.January, 1, 0, 0, 0, 0, time.UTC)},
		{"0 0 13 * fri", time.Date(2026, time.March, 13, 0, 0, 0, 0, time.UTC)}, // the 13th or a Friday
		{"*/10 * * * * *", time.Date(2026, time.March, 7, 9, 5, 10, 0, time.UTC)},
		{"@daily", time.Date(2026, time.March, 8, 0, 0, 0, 0, time.UTC)},
		{"@hourly", time.Date(2026, time.March, 7, 10, 0, 0, 0, time.UTC)},
		{"0 0 30 2 *", time.Time{}},
	} {
		s, err := ParseSchedule(c.pattern)
		if err != nil {
			t.Errorf("%q: %v", c.pattern, err)
			continue
		}
		if got := s.Next(from); !got.Equal(c.want) {
			t.Errorf("%q after %v is %v, want %v", c.pattern, from, got, c.want)
		}
	}
	for _, bad := range []string{"", "* * *", "61 * * * *", "* * * * foo", "5-1 * * * *", "*/0 * * * *", "0 0 L * *"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
