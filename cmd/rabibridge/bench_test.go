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

// TestLocalBroker: the broker's CPU is read only for a broker on this
// machine's loopback, and only when one RabbitMQ node runs here.
func TestLocalBroker(t *testing.T) {
	is := is.New(t)
	for _, url := range []string{"mem://", "amqp://guest:guest@rabbit.example:5672/", "amqps://10.0.0.7/", "::not a url"} {
		is.Equal(localBroker(url), 0)
	}
	nodes := loadgen.FindProcesses("beam.smp")
	for _, url := range []string{"amqp://guest:guest@127.0.0.1:5672/", "amqp://localhost/", "amqp://[::1]:5672/"} {
		pid := localBroker(url)
		if len(nodes) == 1 {
			is.Equal(pid, nodes[0])
		} else {
			is.Equal(pid, 0) // none, or several: which one serves url is not known
		}
	}
}
