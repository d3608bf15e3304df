// Package loadgen drives calls from concurrent loops for a while and
// reports throughput, latency percentiles and errors by kind. The CLI's
// bench command and the benchmark harness use it for rabibridge and for the
// raw floor alike, so both are measured the same way.
package loadgen

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/pause"
)

// Options configure a run.
type Options struct {
	// Concurrency is the number of loops calling at once; zero means 1.
	Concurrency int
	// Duration is how long calls are counted; zero means 10s.
	Duration time.Duration
	// Warmup is how long calls are made before counting starts.
	Warmup time.Duration
	// Timeout bounds each call; zero means 10s.
	Timeout time.Duration
	// Progress, when set, is called about twice a second with the run so far.
	Progress func(Progress)
	// BrokerPID, when set, is a process on this machine (the broker) whose
	// CPU time per call is reported too.
	BrokerPID int
}

// Progress is a run so far.
type Progress struct {
	Elapsed     time.Duration
	Calls       int64
	Errors      int64
	CallsPerSec float64
}

// Result is what a run measured.
type Result struct {
	Concurrency int              `json:"concurrency"`
	Calls       int64            `json:"calls"`
	Seconds     float64          `json:"seconds"`
	CallsPerSec float64          `json:"calls_per_sec"`
	P50ms       float64          `json:"p50_ms"`
	P90ms       float64          `json:"p90_ms"`
	P99ms       float64          `json:"p99_ms"`
	Errors      map[string]int64 `json:"errors,omitempty"`
	// CPUus is the CPU time this process spent per call, in microseconds
	// (user and system, all goroutines): steadier than throughput on a
	// shared machine, and the part of the cost the broker does not pay.
	CPUus float64 `json:"cpu_us_per_call"`
	// Syscalls is how many read and write system calls this process made
	// per call (from /proc/self/io; zero where that is missing): the
	// network work of a call, as the kernel saw it.
	Syscalls float64 `json:"syscalls_per_call,omitempty"`
	// BrokerCPUus is the CPU time Options.BrokerPID spent per call, in
	// microseconds; zero when it was not asked for or cannot be read. On a
	// machine shared with the broker, throughput is bounded by the sum of
	// the two.
	BrokerCPUus float64 `json:"broker_cpu_us_per_call,omitempty"`
}

// Kind names the kind of a call's error, for Result.Errors.
func Kind(err error) string {
	var re *rabibridge.RemoteError
	switch {
	case errors.Is(err, rabibridge.ErrQueueFull):
		return "queue_full"
	case errors.Is(err, rabibridge.ErrNoSuchFunction):
		return "no_such_function"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, rabibridge.ErrConnectionLost):
		return "connection_lost"
	case errors.As(err, &re):
		return "remote_" + string(re.Code)
	}
	return "other"
}

// Run calls call from opts.Concurrency loops until opts.Duration has passed
// after the warmup, or ctx ends.
func Run(ctx context.Context, opts Options, call func(ctx context.Context) error) Result {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	var counting atomic.Bool
	var calls, failed atomic.Int64
	type loop struct {
		lat  []time.Duration
		errs map[string]int64
	}
	loops := make([]*loop, opts.Concurrency)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for i := range loops {
		l := &loop{errs: map[string]int64{}}
		loops[i] = l
		wg.Go(func() {
			for runCtx.Err() == nil {
				cctx, cancel := context.WithTimeout(runCtx, opts.Timeout)
				start := time.Now()
				err := call(cctx)
				d := time.Since(start)
				cancel()
				if !counting.Load() || runCtx.Err() != nil {
					continue
				}
				calls.Add(1)
				if err != nil {
					failed.Add(1)
					l.errs[Kind(err)]++
					continue
				}
				l.lat = append(l.lat, d)
			}
		})
	}
	if !pause.For(ctx, opts.Warmup) {
		stop()
	}
	counting.Store(true)
	start := time.Now()
	cpu0, sys0 := cpuTime(), syscalls()
	broker0, brokerOK := procCPU(opts.BrokerPID)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	end := time.NewTimer(opts.Duration)
	defer end.Stop()
wait:
	for {
		select {
		case <-tick.C:
			if opts.Progress != nil {
				el := time.Since(start)
				opts.Progress(Progress{Elapsed: el, Calls: calls.Load(), Errors: failed.Load(),
					CallsPerSec: float64(calls.Load()) / el.Seconds()})
			}
		case <-end.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	elapsed := time.Since(start)
	cpu, sys := cpuTime()-cpu0, syscalls()-sys0
	broker1, brokerOK1 := procCPU(opts.BrokerPID)
	counting.Store(false)
	stop()
	wg.Wait()

	r := Result{Concurrency: opts.Concurrency, Calls: calls.Load(), Seconds: elapsed.Seconds()}
	r.CallsPerSec = float64(r.Calls) / r.Seconds
	if r.Calls > 0 {
		r.CPUus = float64(cpu) / float64(time.Microsecond) / float64(r.Calls)
		r.Syscalls = float64(sys) / float64(r.Calls)
		if brokerOK && brokerOK1 {
			r.BrokerCPUus = float64(broker1-broker0) / float64(time.Microsecond) / float64(r.Calls)
		}
	}
	var all []time.Duration
	for _, l := range loops {
		all = append(all, l.lat...)
		for k, v := range l.errs {
			if r.Errors == nil {
				r.Errors = map[string]int64{}
			}
			r.Errors[k] += v
		}
	}
	slices.Sort(all)
	r.P50ms, r.P90ms, r.P99ms = pct(all, 0.50), pct(all, 0.90), pct(all, 0.99)
	return r
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

// syscalls is how many read and write system calls this process has made,
// or zero where /proc/self/io is missing.
func syscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	var n int64
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if ok && (k == "syscr" || k == "syscw") {
			i, _ := strconv.ParseInt(v, 10, 64)
			n += i
		}
	}
	return n
}

// procCPU is the CPU time (user and system) process pid has used, from
// /proc/PID/stat in clock ticks of 10ms (Linux's USER_HZ is 100 on every
// architecture Go runs on); false for pid 0 or when it cannot be read.
func procCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime, the 14th and 15th fields of a
// /proc/PID/stat line. The second field, the command in parentheses, may
// hold spaces, so fields are counted after its closing parenthesis.
func parseStatCPU(stat string) (time.Duration, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// FindProcesses returns the pids of the processes on this machine whose
// command name (/proc/PID/comm) is comm; none when /proc cannot be read.
func FindProcesses(comm string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.TrimSpace(string(b)) == comm {
			pids = append(pids, pid)
		}
	}
	return pids
}
