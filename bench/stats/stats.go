// Package stats summarizes a figure measured over several rounds on a shared machine. One
// round proves little there, so a figure is always carried as its minimum, median and
// maximum (a Spread), and printed as all three.
package stats

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Spread is the same figure over several rounds. Min, median and max are printed together
// everywhere: on a shared 2-core machine one round proves little.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// SpreadOf drops NaNs and infinities, which stand for rounds where a ratio had nothing to
// divide by.
func SpreadOf(values []float64) Spread { return SpreadKeeping(values, false) }

// SpreadKeeping is SpreadOf that keeps infinities when keepInf is set: a max/min of +Inf
// (a worker that got nothing) is the worst round, and dropping it would hide it.
func SpreadKeeping(values []float64, keepInf bool) Spread {
	var v []float64
	for _, x := range values {
		if !math.IsNaN(x) && (keepInf || !math.IsInf(x, 0)) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Spread{Min: math.NaN(), Median: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Spread{Min: v[0], Median: med, Max: v[len(v)-1], N: len(v)}
}

// SpreadOfDurations is SpreadOf for durations, in nanoseconds, so that Ms can print it.
func SpreadOfDurations(d []time.Duration) Spread {
	v := make([]float64, len(d))
	for i, x := range d {
		v[i] = float64(x)
	}
	return SpreadOf(v)
}

// Ratio formats a ratio spread as "**0.99** (0.97–1.01)", the median in bold because it is
// the figure a reader compares.
func (s Spread) Ratio() string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("**%.2f** (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

// Format formats any spread with a printf verb for its numbers, for figures that are not
// ratios (shares, rates) or need another precision.
func (s Spread) Format(verb string) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", s.Median, s.Min, s.Max)
}

// Ms formats a spread of durations in nanoseconds as milliseconds, the unit every latency
// of the report is read in.
func (s Spread) Ms() string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", Ms(s.Median), Ms(s.Min), Ms(s.Max))
}

// Ms formats nanoseconds as milliseconds with about three significant digits, so that
// 0.31 ms and 120 ms read alike in one column.
func Ms(ns float64) string {
	ms := ns / 1e6
	switch {
	case ms < 1:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// Percentile of durations (nearest rank, p in 0..100): trials of a few dozen samples need
// a percentile that is one of them, not an interpolation.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Kilo formats a rate as 41.2k: absolute rates only give ratios a scale, so three digits
// are plenty.
func Kilo(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}
