package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	neturl "net/url"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/benchfloor"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/loadgen"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/redact"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// benchReport is what `rabibridge bench --json` prints.
type benchReport struct {
	Fn     string `json:"fn"`
	Size   int    `json:"size"`
	Broker string `json:"broker"`
	// Rounds is how many times each concurrency was measured (alternating
	// with the floor); each figure is the median over the rounds.
	Rounds  int              `json:"rounds"`
	Results []loadgen.Result `json:"results"`
	// Floor is the raw floor in RabiBridge's topology (the rpc exchange, a
	// durable queue with RabiBridge's arguments): the same work for the
	// broker as rabibridge's calls.
	Floor []loadgen.Result `json:"floor,omitempty"`
	// Ratios are rabibridge / Floor, per concurrency: the median of the
	// rounds' ratios, each round's runs made one after the other.
	Ratios []benchRatio `json:"ratios,omitempty"`
	// FloorCheapest is the raw floor in the cheapest topology (the default
	// exchange, a non-durable queue with no arguments), and
	// RatiosCheapest rabibridge / FloorCheapest.
	FloorCheapest  []loadgen.Result `json:"floor_cheapest,omitempty"`
	RatiosCheapest []benchRatio     `json:"ratios_cheapest,omitempty"`
	// Calibration is set when --calibrate measured a second floor in
	// rabibridge's place.
	Calibration bool `json:"calibration,omitempty"`
}

type benchRatio struct {
	Concurrency int     `json:"concurrency"`
	CallsPerSec float64 `json:"calls_per_sec"`
	// CallsPerSecMin and CallsPerSecMax are the lowest and highest of the
	// rounds' calls/s ratios: how far one round can be off.
	CallsPerSecMin float64 `json:"calls_per_sec_min"`
	CallsPerSecMax float64 `json:"calls_per_sec_max"`
	P50            float64 `json:"p50"`
	P99            float64 `json:"p99"`
	CPU            float64 `json:"cpu"`
	// BrokerCPU is the broker's CPU per call, rabibridge's over the
	// floor's; zero when the broker's process was not found.
	BrokerCPU float64 `json:"broker_cpu,omitempty"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("bench", stderr)
	var cf connFlags
	cf.register(fs)
	fn := fs.String("fn", "echo", "function to call; it gets one argument of --size bytes")
	conc := fs.String("concurrency", "1,64", "concurrent callers; a comma-separated list runs each in turn")
	duration := fs.Duration("duration", 10*time.Second, "how long each concurrency is measured")
	warmup := fs.Duration("warmup", time.Second, "calls made before measuring each concurrency")
	size := fs.Int("size", 16, "bytes of the argument")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	plotFile := fs.String("plot", "", "write a chart of throughput and latency over concurrency (.png or .svg)")
	serve := fs.Bool("serve", false, "serve the demo functions in this process (else a worker, e.g. serve-demo, must serve --fn)")
	floor := fs.Bool("floor", false, "also measure the raw amqp091-go floor with the same guarantees, in RabiBridge's topology and in the cheapest one, and print the ratios")
	calibrate := fs.Bool("calibrate", false, "with --floor: measure a second copy of the floor in rabibridge's place, to see how far from 1.00x the method reads for equal code on this machine")
	rounds := fs.Int("rounds", 1, "measure each concurrency this many times, in turns with the floors (each measured first in turn); figures are medians (steadier on a shared machine)")
	fetch := fs.Int("fetch-size", 0, "with --serve: FetchSize of the demo functions")
	consumers := fs.Int("consumers", 0, "with --serve: consumers (channels) per queue")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run (go tool pprof)")
	traceFile := fs.String("trace", "", "write an execution trace of the run (go tool trace): which goroutine wakes which, and when threads sleep")
	brokerPID := fs.Int("broker-pid", 0, "a local broker's pid, whose CPU per call is reported too (default: the one RabbitMQ node, beam.smp, on this machine when the URL is on loopback)")
	threshold := fs.Int("compress-threshold", 0, "the caller's compression threshold (0: the config's, else 1024; -1: off)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	stopCPU, err := record(*cpuprofile, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	defer stopCPU()
	stopTrace, err := record(*traceFile, trace.Start, trace.Stop)
	if err != nil {
		return err
	}
	defer stopTrace()
	levels, err := parseInts(*conc)
	if err != nil {
		return usageError("--concurrency: %v", err)
	}
	if *rounds < 1 {
		return usageError("--rounds must be at least 1")
	}
	if *calibrate && !*floor {
		return usageError("--calibrate needs --floor")
	}
	conn, cfg, err := cf.dial(ctx, os.Getenv, stderr, "WARNING")
	if err != nil {
		return err
	}
	defer conn.Close()
	name := *fn
	if *serve {
		// The worker gets a connection of its own, as a worker process
		// would have.
		wconn, err := bridge.Dial(ctx, cfg)
		if err != nil {
			return dialFailed(err)
		}
		defer wconn.Close()
		stop, prefixed, err := serveForBench(ctx, wconn, name, worker.Config{Consumers: *consumers, CompressThreshold: *threshold}, *fetch)
		if err != nil {
			return err
		}
		defer stop()
		name = prefixed
	}
	ccfg := cf.callerConfig()
	ccfg.CompressThreshold = *threshold
	c, err := caller.New(conn, ccfg)
	if err != nil {
		return err
	}
	defer c.Close()
	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	rep := benchReport{Fn: *fn, Size: *size, Broker: redact.URL(cfg.URL), Rounds: *rounds}
	if *brokerPID == 0 {
		*brokerPID = localBroker(cfg.URL)
	}
	progress := progressLine(stderr)
	opts := func(n int) loadgen.Options {
		return loadgen.Options{Concurrency: n, Duration: *duration, Warmup: *warmup, Progress: progress(n), BrokerPID: *brokerPID}
	}
	ours := func(ctx context.Context) error {
		_, err := caller.Call[[]byte, []byte](ctx, c, name, payload)
		return err
	}
	// The measured: rabibridge, then with --floor the floor in
	// RabiBridge's topology and in the cheapest one. With --calibrate, a
	// second copy of the first floor takes rabibridge's place.
	calls := []func(context.Context) error{ours}
	if *floor {
		topos := []benchfloor.Topology{benchfloor.RabiBridge, benchfloor.Cheapest}
		for _, topo := range topos {
			f, closeFloor, err := dialFloor(cfg.URL, max(*fetch, protocol.DefaultFetchSize), payload, topo)
			if err != nil {
				return fmt.Errorf("floor: %w", err)
			}
			defer closeFloor()
			calls = append(calls, f)
		}
		if *calibrate {
			f, closeFloor, err := dialFloor(cfg.URL, max(*fetch, protocol.DefaultFetchSize), payload, benchfloor.RabiBridge)
			if err != nil {
				return fmt.Errorf("floor: %w", err)
			}
			defer closeFloor()
			calls[0] = f
			rep.Calibration = true
		}
	}
	for _, n := range levels {
		runs := make([]func() loadgen.Result, len(calls))
		for i, call := range calls {
			runs[i] = func() loadgen.Result { return loadgen.Run(ctx, opts(n), call) }
		}
		results := turns(*rounds, runs...)
		rep.Results = append(rep.Results, medianResult(results[0]))
		if len(results) > 1 {
			rep.Floor = append(rep.Floor, medianResult(results[1]))
			rep.Ratios = append(rep.Ratios, medianRatio(ratios(n, results[0], results[1])))
			rep.FloorCheapest = append(rep.FloorCheapest, medianResult(results[2]))
			rep.RatiosCheapest = append(rep.RatiosCheapest, medianRatio(ratios(n, results[0], results[2])))
		}
	}
	if *plotFile != "" {
		if err := plotBench(*plotFile, rep); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printBench(stdout, rep, *duration)
	return nil
}

// record has start write to a new file, unless file is empty, and returns
// what stops it and closes the file.
func record(file string, start func(io.Writer) error, stop func()) (func(), error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}

// turns runs each of runs rounds times, one after the other, and returns
// each one's results in round order. Each round starts with the next one
// and goes round (a, b, c; b, c, a; c, a, b; ...): on a shared machine a
// run differs by its place in a round even when all run the same code (see
// --calibrate), and the rotation spreads that over all of them.
func turns(rounds int, runs ...func() loadgen.Result) [][]loadgen.Result {
	out := make([][]loadgen.Result, len(runs))
	for round := range rounds {
		for k := range runs {
			i := (round + k) % len(runs)
			out[i] = append(out[i], runs[i]())
		}
	}
	return out
}

// ratios are the rounds' ratios of ours to theirs at concurrency n.
func ratios(n int, ours, theirs []loadgen.Result) []benchRatio {
	var out []benchRatio
	for i := range theirs {
		r, f := ours[i], theirs[i]
		ratio := benchRatio{Concurrency: n,
			CallsPerSec: r.CallsPerSec / f.CallsPerSec, P50: r.P50ms / f.P50ms, P99: r.P99ms / f.P99ms, CPU: r.CPUus / f.CPUus}
		if f.BrokerCPUus > 0 {
			ratio.BrokerCPU = r.BrokerCPUus / f.BrokerCPUus
		}
		out = append(out, ratio)
	}
	return out
}

// serveForBench serves the demo functions under a prefix of their own on
// conn, and returns the name to call fn by. The worker's compression
// threshold is the caller's, so that --compress-threshold -1 compares the
// same bytes both ways with the floor, which never compresses.
func serveForBench(ctx context.Context, conn *bridge.Conn, fn string, wcfg worker.Config, fetch int) (stop func(), name string, err error) {
	prefix := fmt.Sprintf("bench%06x_", rand.Uint32()&0xffffff)
	reg := registry.New()
	opts := registry.Options{FetchSize: fetch}
	for _, err := range []error{
		registry.RegisterIn(reg, prefix+"echo", demo.Echo, opts),
		registry.RegisterIn(reg, prefix+"add", demo.Add, opts),
		registry.RegisterIn(reg, prefix+"sleep", demo.Sleep, opts),
	} {
		if err != nil {
			return nil, "", err
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	w := worker.New(conn, reg, wcfg)
	done := make(chan error, 1)
	go func() { done <- w.Serve(sctx) }()
	<-w.Ready()
	if err := w.Err(); err != nil {
		cancel()
		return nil, "", err
	}
	return func() { cancel(); <-done }, prefix + fn, nil
}

// dialFloor starts the raw floor's worker and client, and returns its call.
func dialFloor(url string, prefetch int, payload []byte, topo benchfloor.Topology) (call func(context.Context) error, stop func(), err error) {
	if !strings.HasPrefix(url, "amqp") {
		return nil, nil, fmt.Errorf("the floor needs RabbitMQ, not %s", url)
	}
	srv, err := benchfloor.Serve(url, prefetch, topo)
	if err != nil {
		return nil, nil, err
	}
	cl, err := benchfloor.Dial(url)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	call = func(ctx context.Context) error {
		_, err := cl.Call(ctx, srv.Exchange, srv.Key, payload)
		return err
	}
	return call, func() { cl.Close(); srv.Close() }, nil
}

// medianResult sums the rounds' calls and errors and takes the median of
// each rate, latency and cost.
func medianResult(rs []loadgen.Result) loadgen.Result {
	if len(rs) == 1 {
		return rs[0]
	}
	out := loadgen.Result{Concurrency: rs[0].Concurrency}
	med := func(f func(loadgen.Result) float64) float64 {
		return median(rs, f)
	}
	for _, r := range rs {
		out.Calls += r.Calls
		out.Seconds += r.Seconds
		for k, v := range r.Errors {
			if out.Errors == nil {
				out.Errors = map[string]int64{}
			}
			out.Errors[k] += v
		}
	}
	out.CallsPerSec = med(func(r loadgen.Result) float64 { return r.CallsPerSec })
	out.P50ms = med(func(r loadgen.Result) float64 { return r.P50ms })
	out.P90ms = med(func(r loadgen.Result) float64 { return r.P90ms })
	out.P99ms = med(func(r loadgen.Result) float64 { return r.P99ms })
	out.CPUus = med(func(r loadgen.Result) float64 { return r.CPUus })
	out.Syscalls = med(func(r loadgen.Result) float64 { return r.Syscalls })
	out.BrokerCPUus = med(func(r loadgen.Result) float64 { return r.BrokerCPUus })
	return out
}

func medianRatio(rs []benchRatio) benchRatio {
	calls := func(r benchRatio) float64 { return r.CallsPerSec }
	return benchRatio{Concurrency: rs[0].Concurrency,
		CallsPerSec:    median(rs, calls),
		CallsPerSecMin: slices.Min(mapped(rs, calls)),
		CallsPerSecMax: slices.Max(mapped(rs, calls)),
		P50:            median(rs, func(r benchRatio) float64 { return r.P50 }),
		P99:            median(rs, func(r benchRatio) float64 { return r.P99 }),
		CPU:            median(rs, func(r benchRatio) float64 { return r.CPU }),
		BrokerCPU:      median(rs, func(r benchRatio) float64 { return r.BrokerCPU })}
}

// localBroker is the pid of the RabbitMQ node serving url when url is on
// loopback and exactly one node (beam.smp) runs on this machine; else 0,
// and the broker's CPU is not reported.
func localBroker(url string) int {
	u, err := neturl.Parse(url)
	if err != nil {
		return 0
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	if pids := loadgen.FindProcesses("beam.smp"); len(pids) == 1 {
		return pids[0]
	}
	return 0
}

// median is the median of f over xs (the mean of the middle two for an
// even count).
func median[T any](xs []T, f func(T) float64) float64 {
	v := mapped(xs, f)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// progressLine returns the progress reporter for concurrency n: a line
// rewritten in place on a terminal, nothing elsewhere.
func progressLine(w io.Writer) func(n int) func(loadgen.Progress) {
	if !isTerminal(w) {
		return func(int) func(loadgen.Progress) { return nil }
	}
	return func(n int) func(loadgen.Progress) {
		return func(p loadgen.Progress) {
			fmt.Fprintf(w, "\r  concurrency %d: %5.1fs  %d calls  %.0f calls/s  %d errors   ",
				n, p.Elapsed.Seconds(), p.Calls, p.CallsPerSec, p.Errors)
		}
	}
}

func printBench(w io.Writer, rep benchReport, d time.Duration) {
	fmt.Fprintf(w, "\rrabibridge bench: %s, %d B, %v per concurrency, %s\n", rep.Fn, rep.Size, d, rep.Broker)
	if rep.Rounds > 1 {
		fmt.Fprintf(w, "%d rounds, each measured first in turn: medians, and the median of the rounds' ratios\n", rep.Rounds)
	}
	table := func(title string, rs []loadgen.Result) {
		fmt.Fprintf(w, "%s\n  %-12s %10s %8s %8s %8s %9s %9s %10s  %s\n", title, "concurrency", "calls/s", "p50 ms", "p90 ms", "p99 ms", "CPU µs", "syscalls", "broker µs", "errors")
		for _, r := range rs {
			errs := "-"
			if len(r.Errors) > 0 {
				b, _ := json.Marshal(r.Errors)
				errs = string(b)
			}
			broker := "-"
			if r.BrokerCPUus > 0 {
				broker = strconv.FormatFloat(r.BrokerCPUus, 'f', 1, 64)
			}
			fmt.Fprintf(w, "  %-12d %10.0f %8.3f %8.3f %8.3f %9.1f %9.2f %10s  %s\n", r.Concurrency, r.CallsPerSec, r.P50ms, r.P90ms, r.P99ms, r.CPUus, r.Syscalls, broker, errs)
		}
	}
	name := "rabibridge"
	if rep.Calibration {
		name = "floor, a second copy (--calibrate)"
	}
	table(name, rep.Results)
	ratioTable := func(floor string, rs []benchRatio) {
		fmt.Fprintf(w, "ratio %s / %s\n  %-12s %10s %8s %8s %8s %8s  %s\n", name, floor, "concurrency", "calls/s", "p50", "p99", "CPU", "broker", "calls/s over the rounds")
		for _, r := range rs {
			broker := "-"
			if r.BrokerCPU > 0 {
				broker = strconv.FormatFloat(r.BrokerCPU, 'f', 2, 64) + "x"
			}
			fmt.Fprintf(w, "  %-12d %9.2fx %7.2fx %7.2fx %7.2fx %8s  %.2f–%.2fx\n", r.Concurrency, r.CallsPerSec, r.P50, r.P99, r.CPU, broker, r.CallsPerSecMin, r.CallsPerSecMax)
		}
	}
	if len(rep.Floor) > 0 {
		table("floor (raw amqp091-go, same guarantees, RabiBridge's topology)", rep.Floor)
		table("floor, cheapest topology (default exchange, non-durable queue)", rep.FloorCheapest)
		ratioTable("floor", rep.Ratios)
		ratioTable("cheapest floor", rep.RatiosCheapest)
	}
}

// mapped is f of each of xs.
func mapped[T any](xs []T, f func(T) float64) []float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return v
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive whole number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// isTerminal reports whether w is a character device other than /dev/null.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}
