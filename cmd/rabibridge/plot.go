package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/rabibridge/rabibridge/internal/loadgen"
)

// plotBench writes two charts side by side, throughput and latency over
// concurrency, for rabibridge and (when measured) the floor.
func plotBench(path string, rep benchReport) error {
	points := func(rs []loadgen.Result, y func(loadgen.Result) float64) plotter.XYs {
		xy := make(plotter.XYs, len(rs))
		for i, r := range rs {
			xy[i].X, xy[i].Y = float64(r.Concurrency), y(r)
		}
		return xy
	}
	thr := plot.New()
	thr.Title.Text = fmt.Sprintf("%s, %d B: throughput", rep.Fn, rep.Size)
	thr.X.Label.Text, thr.Y.Label.Text = "concurrent callers", "calls/s"
	lat := plot.New()
	lat.Title.Text = "latency"
	lat.X.Label.Text, lat.Y.Label.Text = "concurrent callers", "ms"
	cps := func(r loadgen.Result) float64 { return r.CallsPerSec }
	p50 := func(r loadgen.Result) float64 { return r.P50ms }
	p99 := func(r loadgen.Result) float64 { return r.P99ms }
	thrLines := []any{"rabibridge", points(rep.Results, cps)}
	latLines := []any{"rabibridge p50", points(rep.Results, p50), "rabibridge p99", points(rep.Results, p99)}
	if len(rep.Floor) > 0 {
		thrLines = append(thrLines, "floor", points(rep.Floor, cps))
		latLines = append(latLines, "floor p50", points(rep.Floor, p50), "floor p99", points(rep.Floor, p99))
	}
	if err := plotutil.AddLinePoints(thr, thrLines...); err != nil {
		return err
	}
	if err := plotutil.AddLinePoints(lat, latLines...); err != nil {
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
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{thr, lat}}, tiles, dc)
	thr.Draw(canvases[0][0])
	lat.Draw(canvases[0][1])
	return writeFile(path, canvas)
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
