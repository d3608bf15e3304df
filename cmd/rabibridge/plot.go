package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/rabibridge/rabibridge/internal/loadgen"
)

// The chart's styles: one colour and one marker per system, the same in
// both panels; in the latency panel p50 is a solid line, p99 a dotted one.
var (
	ourColor   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	floorColor = color.RGBA{R: 0xd6, G: 0x62, B: 0x0a, A: 0xff} // orange
	cheapColor = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff} // green
	dotted     = []vg.Length{vg.Points(2), vg.Points(3)}
)

// series is one line of the chart.
type series struct {
	name   string
	points plotter.XYs
	color  color.Color
	shape  draw.GlyphDrawer
	dashes []vg.Length
}

// plotBench writes two charts side by side, throughput and latency over
// the number of concurrent callers (a log scale, ticked where measured),
// for rabibridge and (when measured) the floor. Both y-axes start at zero.
func plotBench(path string, rep benchReport) error {
	points := func(rs []loadgen.Result, y func(loadgen.Result) float64) plotter.XYs {
		xy := make(plotter.XYs, len(rs))
		for i, r := range rs {
			xy[i].X, xy[i].Y = float64(r.Concurrency), y(r)
		}
		return xy
	}
	cps := func(r loadgen.Result) float64 { return r.CallsPerSec }
	p50 := func(r loadgen.Result) float64 { return r.P50ms }
	p99 := func(r loadgen.Result) float64 { return r.P99ms }
	circle, square := draw.CircleGlyph{}, draw.SquareGlyph{}
	thrLines := []series{{"rabibridge", points(rep.Results, cps), ourColor, circle, nil}}
	latLines := []series{
		{"rabibridge p50", points(rep.Results, p50), ourColor, circle, nil},
		{"rabibridge p99", points(rep.Results, p99), ourColor, circle, dotted},
	}
	if len(rep.Floor) > 0 {
		triangle := draw.TriangleGlyph{}
		thrLines = append(thrLines,
			series{"raw amqp091-go, RabiBridge topology (floor)", points(rep.Floor, cps), floorColor, square, nil},
			series{"raw amqp091-go, cheapest topology", points(rep.FloorCheapest, cps), cheapColor, triangle, nil})
		latLines = append(latLines,
			series{"floor p50", points(rep.Floor, p50), floorColor, square, nil},
			series{"floor p99", points(rep.Floor, p99), floorColor, square, dotted},
			series{"cheapest p50", points(rep.FloorCheapest, p50), cheapColor, triangle, nil},
			series{"cheapest p99", points(rep.FloorCheapest, p99), cheapColor, triangle, dotted})
	}
	thr, err := panel(fmt.Sprintf("%s, %d B: throughput", rep.Fn, rep.Size), "calls/s", thrLines)
	if err != nil {
		return err
	}
	lat, err := panel("latency", "ms", latLines)
	if err != nil {
		return err
	}
	const w, h = 10 * vg.Inch, 4 * vg.Inch
	var canvas vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		canvas = vgsvg.New(w, h)
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	default:
		return fmt.Errorf("--plot %s: want a .png or .svg file", path)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{{thr, lat}}, tiles, dc)
	thr.Draw(canvases[0][0])
	lat.Draw(canvases[0][1])
	return writeFile(path, canvas)
}

// headroom is the share of a panel's height above its highest point, where
// the legend goes: the curves rise with concurrency, so its top left is
// clear.
const headroom = 0.3

// panel is one chart of lines over concurrency.
func panel(title, unit string, lines []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = "concurrent callers (log scale)", unit
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, concurrencyTicks(lines)
	top := 0.0
	for _, s := range lines {
		for _, pt := range s.points {
			top = math.Max(top, pt.Y)
		}
		l, pts, err := plotter.NewLinePoints(s.points)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width, l.Dashes = s.color, vg.Points(1.5), s.dashes
		pts.Color, pts.Shape, pts.Radius = s.color, s.shape, vg.Points(3)
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	p.Y.Min, p.Y.Max = 0, niceCeil(top/(1-headroom))
	p.Y.Tick.Marker = zeroTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Millimeter*2, -vg.Millimeter*1
	p.Legend.ThumbnailWidth = vg.Millimeter * 12
	p.Legend.Padding = vg.Millimeter * 0.8
	p.Add(plotter.NewGrid())
	return p, nil
}

// concurrencyTicks labels the x-axis at each measured concurrency.
func concurrencyTicks(lines []series) plot.ConstantTicks {
	seen := map[float64]bool{}
	var ticks plot.ConstantTicks
	for _, s := range lines {
		for _, pt := range s.points {
			if !seen[pt.X] {
				seen[pt.X] = true
				ticks = append(ticks, plot.Tick{Value: pt.X, Label: strconv.FormatFloat(pt.X, 'f', -1, 64)})
			}
		}
	}
	return ticks
}

// zeroTicks labels a y-axis from zero in five to ten steps of 1, 2 or 5
// times a power of ten.
type zeroTicks struct{}

func (zeroTicks) Ticks(min, max float64) []plot.Tick {
	step := niceStep(max / 6)
	var ticks []plot.Tick
	for v := 0.0; v <= max+step/1e6; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// niceStep returns the smallest of 1, 2 or 5 times a power of ten that is
// at least x.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= x*(1-1e-9) {
			return m * pow
		}
	}
	return 10 * pow
}

// niceCeil rounds x up to a whole number of its nice step.
func niceCeil(x float64) float64 {
	step := niceStep(x / 6)
	return math.Ceil(x/step) * step
}

func writeFile(path string, w interface {
	WriteTo(io.Writer) (int64, error)
}) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
