package main

import (
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/internal/loadgen"
)

// TestPairs checks the order of a bench's runs: in pairs, the floor first
// in every other pair, and the results handed back in round order.
func TestPairs(t *testing.T) {
	is := is.New(t)
	var order []string
	run := func(name string) func() loadgen.Result {
		n := 0
		return func() loadgen.Result {
			n++
			order = append(order, name)
			return loadgen.Result{Calls: int64(n)}
		}
	}
	as, bs := pairs(4, run("a"), run("b"))
	is.Equal(strings.Join(order, ""), "abbaabba")
	for i := range 4 {
		is.Equal(as[i].Calls, int64(i+1)) // round i's result in place i
		is.Equal(bs[i].Calls, int64(i+1))
	}
	order = nil
	as, bs = pairs(1, run("a"), run("b"))
	is.Equal(strings.Join(order, ""), "ab")
	is.Equal(len(as), 1)
	is.Equal(len(bs), 1)
}

func TestBenchCalibrateNeedsFloor(t *testing.T) {
	is := is.New(t)
	code, _, errOut := runCLI(t, "bench", "--calibrate", "--url", "mem://bench-calibrate")
	is.Equal(code, 2)
	is.True(strings.Contains(errOut, "--calibrate needs --floor"))
}
