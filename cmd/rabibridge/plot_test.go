package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rabibridge/rabibridge/internal/loadgen"
)

func sampleReport() benchReport {
	res := func(c int, cps, p50, p99 float64) loadgen.Result {
		return loadgen.Result{Concurrency: c, CallsPerSec: cps, P50ms: p50, P99ms: p99}
	}
	return benchReport{Fn: "echo", Size: 16,
		Results:       []loadgen.Result{res(1, 4700, 0.21, 0.4), res(4, 11800, 0.33, 0.9), res(16, 20100, 0.78, 2.1), res(64, 24500, 2.6, 6.3)},
		Floor:         []loadgen.Result{res(1, 5000, 0.2, 0.38), res(4, 12100, 0.32, 0.85), res(16, 20500, 0.77, 2.0), res(64, 24000, 2.65, 6.1)},
		FloorCheapest: []loadgen.Result{res(1, 5100, 0.19, 0.37), res(4, 12300, 0.31, 0.84), res(16, 20800, 0.76, 2.0), res(64, 24400, 2.6, 6.0)},
	}
}

// TestPlotBench: the chart's x-axis is ticked at the measured
// concurrencies on a log scale, its y-axes start at zero, and each system
// keeps one colour in both panels.
func TestPlotBench(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.svg")
	if err := plotBench(path, sampleReport()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	for _, want := range []string{">1<", ">4<", ">16<", ">64<", "log scale", ">0<", "raw amqp091-go, RabiBridge topology (floor)", "raw amqp091-go, cheapest topology", "rabibridge p99", "floor p50", "cheapest p99"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	// One colour per system: ours blue, the floor orange, the cheapest
	// floor green, and no other beside the axes' black and the grid's grey.
	colours := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:stroke|fill):(#[0-9A-F]{6})`).FindAllStringSubmatch(svg, -1) {
		colours[m[1]] = true
	}
	want := map[string]bool{"#1F77B4": true, "#D6620A": true, "#2CA02C": true, "#000000": true, "#808080": true, "#FFFFFF": true}
	if !reflect.DeepEqual(colours, want) {
		t.Errorf("colours %v, want %v", colours, want)
	}
	if p := os.Getenv("PLOT_PNG"); p != "" { // to look at it
		if err := plotBench(p, sampleReport()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct{ in, step float64 }{{0.7, 1}, {1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {4200, 5000}, {0.013, 0.02}} {
		if got := niceStep(c.in); got != c.step {
			t.Errorf("niceStep(%v) = %v, want %v", c.in, got, c.step)
		}
	}
	ticks := zeroTicks{}.Ticks(0, 30000)
	if ticks[0].Value != 0 || ticks[len(ticks)-1].Value != 30000 || len(ticks) < 4 || len(ticks) > 11 {
		t.Errorf("ticks from 0 to 30000: %v", ticks)
	}
}
