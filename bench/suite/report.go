package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// section is one scenario's part of the report.
type section struct {
	id, title  string
	took       time.Duration
	busyBefore float64 // share of the machine's CPU busy (not from the suite) just before
	err        string  // the scenario did not complete
	body       strings.Builder
	plots      []plotFile
	goals      []goal
	raw        any // every measurement, for the JSON file beside the report
}

// printf appends Markdown to the section.
func (sec *section) printf(format string, args ...any) {
	fmt.Fprintf(&sec.body, format, args...)
}

// table appends a Markdown table.
func (sec *section) table(header []string, rows [][]string) {
	sec.printf("\n| %s |\n|", strings.Join(header, " | "))
	for range header {
		sec.printf("---|")
	}
	sec.printf("\n")
	for _, r := range rows {
		sec.printf("| %s |\n", strings.Join(r, " | "))
	}
	sec.printf("\n")
}

// goal is one promise of issue 6 and what this run measured for it.
type goal struct {
	What     string `json:"what"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      *bool  `json:"met,omitempty"` // nil: reported, not judged
}

func (g goal) verdict() string {
	switch {
	case g.Met == nil:
		return "–"
	case *g.Met:
		return "met"
	}
	return "**missed**"
}

func judged(met bool) *bool { return &met }

// plotFile is an SVG the report links to.
type plotFile struct {
	name    string // file name without date and extension
	caption string
	svg     []byte
}

type report struct {
	date     string
	prof     profile
	started  time.Time
	env      map[string]string
	sections []*section
}

// write puts DATE.md, DATE.json and DATE-*.svg into dir and returns their paths.
func (r *report) write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	var md strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&md, format, args...) }

	p("# clusterd benchmark results, %s\n\n", r.date)
	p("Written by `bench/suite` (profile **%s**, run took %v). Every figure is a ratio of two "+
		"targets measured side by side in this run: the targets take turns round by round "+
		"(the order rotates each round), and each cell gives the **median** and, in brackets, "+
		"the minimum and maximum over the rounds. Absolute rates appear only to give the "+
		"ratios a scale; on this shared 2-core machine they are not comparable with any other "+
		"run. How the suite works and how to read this: [bench/README.md](../README.md).\n\n",
		r.prof.Name, time.Since(r.started).Round(time.Second))
	p("## Machine and versions\n\n| | |\n|---|---|\n")
	for _, k := range sortedKeys(r.env) {
		p("| %s | %s |\n", k, r.env[k])
	}

	p("\n## Goals of issue 6 at a glance\n\n| Scenario | Goal | Target | Measured | |\n|---|---|---|---|---|\n")
	for _, sec := range r.sections {
		for _, g := range sec.goals {
			p("| %s | %s | %s | %s | %s |\n", sec.id, g.What, g.Target, g.Measured, g.verdict())
		}
	}

	raw := map[string]any{"date": r.date, "profile": r.prof, "environment": r.env}
	sections := map[string]any{}
	for _, sec := range r.sections {
		p("\n## %s. %s\n\n", sec.id, sec.title)
		if sec.busyBefore >= quietThreshold {
			p("> The machine was busy with other work when this scenario started (%.0f%% of its CPU "+
				"in the last second, none of it the suite's); its figures are less trustworthy.\n\n",
				100*sec.busyBefore)
		}
		if sec.err != "" {
			p("**This scenario did not complete:** `%s`\n\n", strings.ReplaceAll(sec.err, "\n", " "))
		}
		md.WriteString(sec.body.String())
		for _, pl := range sec.plots {
			name := fmt.Sprintf("%s-%s.svg", r.date, pl.name)
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, pl.svg, 0o644); err != nil {
				return paths, err
			}
			paths = append(paths, path)
			p("\n![%s](%s)\n", pl.caption, name)
		}
		p("\n_Scenario took %v._\n", sec.took.Round(time.Second))
		sections[sec.id] = map[string]any{"title": sec.title, "error": sec.err, "goals": sec.goals,
			"busy_before": sec.busyBefore, "took_ns": sec.took, "data": sec.raw}
	}
	raw["scenarios"] = sections

	mdPath := filepath.Join(dir, r.date+".md")
	if err := os.WriteFile(mdPath, []byte(md.String()), 0o644); err != nil {
		return paths, err
	}
	jsonPath := filepath.Join(dir, r.date+".json")
	if err := writeJSON(jsonPath, raw); err != nil {
		return paths, err
	}
	return append([]string{mdPath, jsonPath}, paths...), nil
}
