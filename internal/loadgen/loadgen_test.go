package loadgen

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestParseStatCPU(t *testing.T) {
	// utime and stime are the 14th and 15th fields; the command may hold
	// spaces and parentheses.
	fields := func(comm string, utime, stime int) string {
		f := []string{"4242", "(" + comm + ")", "S", "1", "4242", "4242", "0", "-1", "4194560",
			"100", "0", "0", "0", strconv.Itoa(utime), strconv.Itoa(stime), "0", "0", "20", "0", "30"}
		return strings.Join(f, " ") + "\n"
	}
	for _, tt := range []struct {
		name string
		stat string
		want time.Duration
		ok   bool
	}{
		{"plain", fields("beam.smp", 150, 50), 2 * time.Second, true},
		{"a young process", fields("beam.smp", 0, 0), 0, true},
		{"command with spaces and parentheses", fields("a (b) c", 7, 3), 100 * time.Millisecond, true},
		{"no command", "4242 S 1 2 3", 0, false},
		{"cut short", "4242 (beam.smp) S 1 2 3", 0, false},
		{"not numbers", "4242 (x) S 1 1 1 0 -1 0 0 0 0 0 u s 0", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, ok := parseStatCPU(tt.stat)
			is.Equal(ok, tt.ok)
			is.Equal(got, tt.want)
		})
	}
}

// TestRunBrokerCPU: with BrokerPID set to this very process, the "broker"
// CPU per call is this process's CPU per call, read the other way.
func TestRunBrokerCPU(t *testing.T) {
	is := is.New(t)
	spin := func(ctx context.Context) error {
		for end := time.Now().Add(2 * time.Millisecond); time.Now().Before(end); {
		}
		return nil
	}
	r := Run(context.Background(), Options{Concurrency: 1, Duration: 400 * time.Millisecond, BrokerPID: os.Getpid()}, spin)
	is.True(r.Calls > 0)
	is.True(r.CPUus > 0)
	is.True(r.BrokerCPUus > 0)
	// Two readings of one process's CPU (rusage, and /proc in 10ms ticks):
	// alike within the ticks' granularity over 400ms, with room to spare.
	ratio := r.BrokerCPUus / r.CPUus
	is.True(ratio > 0.5 && ratio < 2)

	r = Run(context.Background(), Options{Concurrency: 1, Duration: 50 * time.Millisecond}, spin)
	is.Equal(r.BrokerCPUus, 0.0) // not asked for
}

func TestFindProcesses(t *testing.T) {
	is := is.New(t)
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip("no /proc here")
	}
	pids := FindProcesses(strings.TrimSpace(string(comm)))
	found := false
	for _, pid := range pids {
		found = found || pid == os.Getpid()
	}
	is.True(found)
	is.Equal(len(FindProcesses("no-such-command-here")), 0)
}
