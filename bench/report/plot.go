package report

import (
	"bytes"
	"image/color"
	"math"
	"slices"

	"github.com/clusterd/clusterd/bench/stats"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The plots are small SVGs for the README: medians with min–max whiskers rather than bars,
// because the spread over rounds is the honest part of a figure from a shared machine.

const plotWidth, plotHeight = 8 * vg.Inch, 4 * vg.Inch

// plotFormat is "svg" for the report; a test may render "png" to look at a plot.
var plotFormat = "svg"

// RatioPlot draws, for each group (a load) and series (a target), the median ratio as a
// point with a whisker from min to max, beside dashed reference lines (1.0, a goal), so
// that a reader sees at once whether the spread over the rounds crosses a goal.
func RatioPlot(title, ylabel string, groups, names []string, series map[string][]stats.Spread, refs []float64) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.NominalX(groups...)
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range refs {
		lo, hi = math.Min(lo, r), math.Max(hi, r)
	}
	for si, name := range names {
		pts := whiskers{}
		for g, sp := range series[name] {
			if sp.N == 0 {
				continue
			}
			x := float64(g) + (float64(si)-float64(len(names)-1)/2)*0.18
			pts = append(pts, whisker{x, sp})
			lo, hi = math.Min(lo, sp.Min), math.Max(hi, sp.Max)
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color = plotutil.Color(si)
		sc.GlyphStyle.Shape = plotutil.Shape(si)
		sc.GlyphStyle.Radius = vg.Points(4)
		eb, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, err
		}
		eb.LineStyle.Color = plotutil.Color(si)
		eb.LineStyle.Width = vg.Points(1.5)
		p.Add(eb, sc)
		p.Legend.Add(name, sc)
	}
	for _, r := range refs {
		ref := plotter.NewFunction(func(float64) float64 { return r })
		ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		ref.Color = color.Gray{Y: 120}
		p.Add(ref)
	}
	pad := (hi - lo) * 0.15
	p.Y.Min, p.Y.Max = lo-pad, hi+pad*2.5 // room for the legend at the top
	p.X.Min, p.X.Max = -0.6, float64(len(groups))-0.4
	return render(p)
}

type whisker struct {
	x float64
	s stats.Spread
}

type whiskers []whisker

func (w whiskers) Len() int                    { return len(w) }
func (w whiskers) XY(i int) (float64, float64) { return w[i].x, w[i].s.Median }
func (w whiskers) YError(i int) (float64, float64) {
	return w[i].s.Median - w[i].s.Min, w[i].s.Max - w[i].s.Median
}

// CDFPlot draws the distribution of durations (in milliseconds) of each series: the share
// of trials at or below each duration, on a log scale, because the managers' times differ
// by orders of magnitude and their tails matter as much as their medians.
func CDFPlot(title, xlabel string, names []string, samples map[string][]float64) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "share of trials at or below"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	for si, name := range names {
		v := append([]float64(nil), samples[name]...)
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		pts := make(plotter.XYs, 0, len(v))
		for i, x := range v {
			pts = append(pts, plotter.XY{X: math.Max(x, 0.01), Y: float64(i+1) / float64(len(v))})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.StepStyle = plotter.PostStep
		line.Color = plotutil.Color(si)
		line.Width = vg.Points(2)
		p.Add(line)
		p.Legend.Add(name, line)
	}
	p.Y.Min, p.Y.Max = 0, 1.25
	return render(p)
}

// LinePlot draws y against x for each series, x on a log scale because it is a worker
// count that grows by factors (2, 16, 64, 256).
func LinePlot(title, xlabel, ylabel string, names []string, xs map[string][]float64, ys map[string][]float64) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	hi := 0.0
	for si, name := range names {
		pts := plotter.XYs{}
		for i := range min(len(xs[name]), len(ys[name])) {
			pts = append(pts, plotter.XY{X: xs[name][i], Y: ys[name][i]})
			hi = math.Max(hi, ys[name][i])
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(si)
		line.Width = vg.Points(2)
		points.Color = plotutil.Color(si)
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add(name, line, points)
	}
	p.Y.Min, p.Y.Max = 0, hi*1.35
	return render(p)
}

// EventPlot draws one series against a count of events, with a dashed vertical line where
// one kind of event gives way to the next, so that growth in one phase (reloads) can be
// told from growth in the next (crashes).
func EventPlot(title, xlabel, ylabel, name string, xs, ys []float64, boundary float64) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	pts := plotter.XYs{}
	hi := 0.0
	for i := range min(len(xs), len(ys)) {
		pts = append(pts, plotter.XY{X: xs[i], Y: ys[i]})
		hi = math.Max(hi, ys[i])
	}
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, err
	}
	line.Color = plotutil.Color(0)
	line.Width = vg.Points(2)
	points.Color = plotutil.Color(0)
	points.Shape = draw.CircleGlyph{}
	p.Add(line, points)
	p.Legend.Add(name, line, points)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min, p.Y.Max = 0, hi*1.3
	edge, err := plotter.NewLine(plotter.XYs{{X: boundary, Y: 0}, {X: boundary, Y: hi * 1.3}})
	if err != nil {
		return nil, err
	}
	edge.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	edge.Color = color.Gray{Y: 120}
	p.Add(edge)
	return render(p)
}

func render(p *plot.Plot) ([]byte, error) {
	w, err := p.WriterTo(plotWidth, plotHeight, plotFormat)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
