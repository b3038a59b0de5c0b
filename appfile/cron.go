package appfile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a cron_restart pattern: five fields (minute hour
// day-of-month month day-of-week) or six with seconds first, as croner, the
// library PM2 uses, reads them. Each field is *, ?, a number or a name
// (jan, mon), a range a-b, a step */n or a-b/n, or a list of these;
// @hourly, @daily (@midnight), @weekly, @monthly and @yearly (@annually)
// stand for their patterns. As in cron, a day matches when the
// day-of-month or the day-of-week does, if both are restricted.
type Schedule struct {
	// Pattern is as the file wrote it.
	Pattern string

	second, minute, hour, dom, month, dow uint64 // bit n: value n matches
	domAny, dowAny                        bool
}

var cronMacros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

var (
	monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	dayNames   = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

// ParseSchedule reads a cron pattern.
func ParseSchedule(pattern string) (*Schedule, error) {
	spec := strings.TrimSpace(pattern)
	if macro, ok := cronMacros[strings.ToLower(spec)]; ok {
		spec = macro
	}
	fields := strings.Fields(spec)
	switch len(fields) {
	case 5:
		fields = append([]string{"0"}, fields...)
	case 6:
	default:
		return nil, fmt.Errorf("%q: want 5 fields (minute hour day month weekday) or 6 (seconds first)", pattern)
	}
	s := &Schedule{Pattern: pattern}
	for i, f := range []struct {
		bits     *uint64
		name     string
		min, max int
		names    []string
		namesAt  int
	}{
		{&s.second, "second", 0, 59, nil, 0},
		{&s.minute, "minute", 0, 59, nil, 0},
		{&s.hour, "hour", 0, 23, nil, 0},
		{&s.dom, "day of month", 1, 31, nil, 0},
		{&s.month, "month", 1, 12, monthNames, 1},
		{&s.dow, "day of week", 0, 7, dayNames, 0},
	} {
		bits, err := cronField(fields[i], f.min, f.max, f.names, f.namesAt)
		if err != nil {
			return nil, fmt.Errorf("%q: %s: %v", pattern, f.name, err)
		}
		*f.bits = bits
	}
	if s.dow&(1<<7) != 0 {
		s.dow |= 1 // 7 is Sunday too
	}
	s.domAny = fields[3] == "*" || fields[3] == "?"
	s.dowAny = fields[5] == "*" || fields[5] == "?"
	return s, nil
}

// cronField reads one field into a bit set of the values it matches.
func cronField(field string, min, max int, names []string, namesAt int) (uint64, error) {
	value := func(s string) (int, error) {
		for i, name := range names {
			if strings.EqualFold(s, name) {
				return i + namesAt, nil
			}
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < min || n > max {
			return 0, fmt.Errorf("%q: want %d to %d", s, min, max)
		}
		return n, nil
	}
	var bits uint64
	for _, part := range strings.Split(field, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			var err error
			if step, err = strconv.Atoi(stepText); err != nil || step < 1 {
				return 0, fmt.Errorf("%q: a step is a positive number", part)
			}
		}
		lo, hi := min, max
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = value(a); err != nil {
				return 0, err
			}
			if hi, err = value(b); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("%q: a range goes up", part)
			}
		default:
			var err error
			if lo, err = value(rng); err != nil {
				return 0, err
			}
			if !hasStep {
				hi = lo // 5/15 is every 15 from 5, as in croner
			}
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << v
		}
	}
	if bits == 0 {
		return 0, errors.New("matches nothing")
	}
	return bits, nil
}

// Next is the first time after t that the schedule matches, in t's
// location; the zero time if none does within five years (February 30th).
func (s *Schedule) Next(t time.Time) time.Time {
	loc := t.Location()
	t = t.Truncate(time.Second).Add(time.Second)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		y, mo, d := t.Date()
		h, mi, sec := t.Clock()
		switch {
		case s.month&(1<<uint(mo)) == 0:
			t = time.Date(y, mo+1, 1, 0, 0, 0, 0, loc)
		case !s.dayMatches(t):
			t = time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
		case s.hour&(1<<uint(h)) == 0:
			t = time.Date(y, mo, d, h+1, 0, 0, 0, loc)
		case s.minute&(1<<uint(mi)) == 0:
			t = time.Date(y, mo, d, h, mi+1, 0, 0, loc)
		case s.second&(1<<uint(sec)) == 0:
			t = time.Date(y, mo, d, h, mi, sec+1, 0, loc)
		default:
			return t
		}
	}
	return time.Time{}
}

func (s *Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domAny || s.dowAny {
		return dom && dow
	}
	return dom || dow
}
