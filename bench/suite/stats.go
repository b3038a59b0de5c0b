package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// spread summarizes the same figure over several rounds. Min, median and max are printed
// together everywhere: on a shared 2-core machine one round proves little.
type spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

func spreadOf(values []float64) spread { return spreadKeeping(values, false) }

// spreadKeeping is the spread of values without NaNs, and without
// infinities unless keepInf.
func spreadKeeping(values []float64, keepInf bool) spread {
	var v []float64
	for _, x := range values {
		if !math.IsNaN(x) && (keepInf || !math.IsInf(x, 0)) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return spread{Min: math.NaN(), Median: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return spread{Min: v[0], Median: med, Max: v[len(v)-1], N: len(v)}
}

// ratio formats a ratio spread as "0.99 (0.97–1.01)".
func (s spread) ratio() string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("**%.2f** (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

// format formats any spread with a printf verb for its numbers.
func (s spread) format(verb string) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", s.Median, s.Min, s.Max)
}

// ms formats a spread of durations in nanoseconds as milliseconds.
func (s spread) ms() string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", fmtMs(s.Median), fmtMs(s.Min), fmtMs(s.Max))
}

func fmtMs(ns float64) string {
	ms := ns / 1e6
	switch {
	case ms < 1:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// percentile of durations (nearest rank); p in 0..100.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// kilo formats a rate: 41.2k.
func kilo(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}
