package main

import (
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// series is one line of a chart: medians with min–max error bars.
type series struct {
	name   string
	xs     []float64
	ys     []agg
	dashed bool // a bound (the physical limit), not a measurement
}

// errPoints carries medians and the distances to min and max.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// chartSpec describes one PNG chart.
type chartSpec struct {
	path, title, xLabel, yLabel string
	logX, logY                  bool
	// xTicks, if set, are the only x ticks (the concurrency levels).
	xTicks []float64
}

// engineColor gives each engine or server the same color in every chart.
func engineColor(name string) color.Color {
	order := []string{"holdfast", "bbolt-update", "bbolt-batch", "pebble", "badger", "sqlite", "redis", "etcd", "limit"}
	for i, n := range order {
		if n == name {
			if n == "holdfast" {
				return color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
			}
			if n == "limit" {
				return color.Black
			}
			return plotutil.Color(i)
		}
	}
	return color.Gray{Y: 0x80}
}

func lineChart(c chartSpec, ss []series, colorOf func(string) color.Color) error {
	p := plot.New()
	p.Title.Text = c.title
	p.X.Label.Text = c.xLabel
	p.Y.Label.Text = c.yLabel
	p.Legend.Top = true
	p.Legend.Left = true
	if c.logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if c.logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if len(c.xTicks) > 0 {
		var ticks []plot.Tick
		for _, x := range c.xTicks {
			ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', -1, 64)})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	p.Add(plotter.NewGrid())
	for i, s := range ss {
		var pts errPoints
		for j, x := range s.xs {
			y := s.ys[j]
			if y.n == 0 || (c.logY && y.med <= 0) {
				continue
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: x, Y: y.med})
			lo, hi := y.med-y.min, y.max-y.med
			if c.logY && y.min <= 0 {
				lo = 0
			}
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{lo, hi})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			return err
		}
		col := colorOf(strings.Fields(s.name)[0])
		line.Color = col
		line.Width = vg.Points(1.5)
		points.Color = col
		points.Shape = plotutil.Shape(i)
		if s.dashed {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(line)
			p.Legend.Add(s.name, line)
			continue
		}
		if strings.Contains(s.name, "-P ") && !strings.HasSuffix(s.name, "-P 1") {
			line.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		}
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return err
		}
		bars.Color = col
		p.Add(line, points, bars)
		p.Legend.Add(s.name, line, points)
	}
	// Headroom above the data for the legend, which sits top left.
	const legendShare = 0.4
	if c.logY && p.Y.Min > 0 && p.Y.Max > p.Y.Min {
		p.Y.Max *= math.Pow(p.Y.Max/p.Y.Min, legendShare)
	} else {
		p.Y.Max += legendShare * (p.Y.Max - p.Y.Min)
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, c.path)
}
