// Package report writes what a benchmark run found: one Markdown file of tables and goals,
// one JSON file with every measurement, and the SVG plots the Markdown links to. Scenarios
// fill Sections; the report knows nothing of how they measured.
package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Section is one scenario's part of the report. The scenario writes its text, tables,
// goals, plots and raw data; the runner adds what only it knows (number, title, time
// taken, how busy the machine was, the error that ended it).
type Section struct {
	ID, Title  string
	Took       time.Duration
	BusyBefore float64 // share of the machine's CPU busy (not from the suite) just before
	Busy       bool    // BusyBefore was too much for a quiet machine: the report warns
	Err        string  // the scenario did not complete
	body       strings.Builder
	Plots      []Plot
	Goals      []Goal
	Raw        any // every measurement, for the JSON file beside the report
}

// Printf appends Markdown to the section, so that a scenario explains its method in its
// own words right above its figures.
func (sec *Section) Printf(format string, args ...any) {
	fmt.Fprintf(&sec.body, format, args...)
}

// Table appends a Markdown table: every figure of a scenario is a row of one.
func (sec *Section) Table(header []string, rows [][]string) {
	sec.Printf("\n| %s |\n|", strings.Join(header, " | "))
	for range header {
		sec.Printf("---|")
	}
	sec.Printf("\n")
	for _, r := range rows {
		sec.Printf("| %s |\n", strings.Join(r, " | "))
	}
	sec.Printf("\n")
}

// Goal is one promise of issue 6 and what this run measured for it; the report gathers
// every scenario's goals into one table at its top.
type Goal struct {
	What     string `json:"what"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      *bool  `json:"met,omitempty"` // nil: reported, not judged
}

// Verdict is the goal's last column: met, missed, or a dash for a figure that is reported
// and not judged.
func (g Goal) Verdict() string {
	switch {
	case g.Met == nil:
		return "–"
	case *g.Met:
		return "met"
	}
	return "**missed**"
}

// Judged makes Goal.Met from a comparison; a nil Met means the figure is only reported.
func Judged(met bool) *bool { return &met }

// Plot is an SVG the report writes beside itself and links to.
type Plot struct {
	Name    string // file name without date and extension
	Caption string
	SVG     []byte
}

// Report is one run: its header (date, profile, machine) and a section per scenario.
type Report struct {
	Date        string
	ProfileName string
	Profile     any // how big each scenario was, written into the JSON file as it is
	Started     time.Time
	Env         map[string]string
	Sections    []*Section
}

// Write puts DATE.md, DATE.json and DATE-*.svg into dir and returns their paths, the
// Markdown and JSON first.
func (r *Report) Write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	var md strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&md, format, args...) }

	p("# clusterd benchmark results, %s\n\n", r.Date)
	p("Written by `bench/suite` (profile **%s**, run took %v). Every figure is a ratio of two "+
		"targets measured side by side in this run: the targets take turns round by round "+
		"(the order rotates each round), and each cell gives the **median** and, in brackets, "+
		"the minimum and maximum over the rounds. Absolute rates appear only to give the "+
		"ratios a scale; on this shared 2-core machine they are not comparable with any other "+
		"run. How the suite works and how to read this: [bench/README.md](../README.md).\n\n",
		r.ProfileName, time.Since(r.Started).Round(time.Second))
	p("## Machine and versions\n\n| | |\n|---|---|\n")
	for _, k := range slices.Sorted(maps.Keys(r.Env)) {
		p("| %s | %s |\n", k, r.Env[k])
	}

	p("\n## Goals of issue 6 at a glance\n\n| Scenario | Goal | Target | Measured | |\n|---|---|---|---|---|\n")
	for _, sec := range r.Sections {
		for _, g := range sec.Goals {
			p("| %s | %s | %s | %s | %s |\n", sec.ID, g.What, g.Target, g.Measured, g.Verdict())
		}
	}

	raw := map[string]any{"date": r.Date, "profile": r.Profile, "environment": r.Env}
	sections := map[string]any{}
	for _, sec := range r.Sections {
		p("\n## %s. %s\n\n", sec.ID, sec.Title)
		if sec.Busy {
			p("> The machine was busy with other work when this scenario started (%.0f%% of its CPU "+
				"in the last second, none of it the suite's); its figures are less trustworthy.\n\n",
				100*sec.BusyBefore)
		}
		if sec.Err != "" {
			p("**This scenario did not complete:** `%s`\n\n", strings.ReplaceAll(sec.Err, "\n", " "))
		}
		md.WriteString(sec.body.String())
		for _, pl := range sec.Plots {
			name := fmt.Sprintf("%s-%s.svg", r.Date, pl.Name)
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, pl.SVG, 0o644); err != nil {
				return paths, err
			}
			paths = append(paths, path)
			p("\n![%s](%s)\n", pl.Caption, name)
		}
		p("\n_Scenario took %v._\n", sec.Took.Round(time.Second))
		sections[sec.ID] = map[string]any{"title": sec.Title, "error": sec.Err, "goals": sec.Goals,
			"busy_before": sec.BusyBefore, "took_ns": sec.Took, "data": sec.Raw}
	}
	raw["scenarios"] = sections

	mdPath := filepath.Join(dir, r.Date+".md")
	if err := os.WriteFile(mdPath, []byte(md.String()), 0o644); err != nil {
		return paths, err
	}
	jsonPath := filepath.Join(dir, r.Date+".json")
	if err := writeJSON(jsonPath, raw); err != nil {
		return paths, err
	}
	return append([]string{mdPath, jsonPath}, paths...), nil
}

// writeJSON writes v indented, for the raw data that goes beside the report.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// FailedCell is "3 (connect 1, read 2)" or "0": a table cell of failed requests by kind,
// because the kind (refused, reset, timed out) says whose fault a failure was.
func FailedCell(failed map[string]int64) string {
	var total int64
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(failed)) {
		total += failed[k]
		kinds = append(kinds, fmt.Sprintf("%s %d", k, failed[k]))
	}
	if len(kinds) == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(kinds, ", "))
}
