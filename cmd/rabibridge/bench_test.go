package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/internal/loadgen"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/worker"
)

// TestTurns checks the order of a bench's runs: each round starts with the
// next one and goes round, and the results come back in round order.
func TestTurns(t *testing.T) {
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
	rs := turns(4, run("a"), run("b"), run("c"))
	is.Equal(strings.Join(order, ""), "abcbcacababc")
	for _, r := range rs {
		for i := range 4 {
			is.Equal(r[i].Calls, int64(i+1)) // round i's result in place i
		}
	}
	order = nil
	rs = turns(2, run("a"), run("b"))
	is.Equal(strings.Join(order, ""), "abba")
	is.Equal(len(rs), 2)
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

// replies hands each reply to a channel.
type replies chan transport.Message

func (r replies) Reply(m transport.Message) { r <- m }
func (replies) Returned(string)             {}
func (replies) Lost(error)                  {}
func (replies) Recovered()                  {}

// TestServeForBenchCompression: the bench's worker compresses replies by
// the threshold it is given, so that --compress-threshold -1 moves the same
// bytes as the floor both ways (the floor never compresses).
func TestServeForBenchCompression(t *testing.T) {
	for _, tt := range []struct {
		threshold  int
		compressed bool
	}{
		{0, true},   // the default threshold, 1 KiB: a 4 KiB reply is compressed
		{-1, false}, // off
	} {
		t.Run(strconv.Itoa(tt.threshold), func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://bench-compress-" + strconv.Itoa(tt.threshold)})
			is.NoErr(err)
			t.Cleanup(func() { conn.Close() })
			stop, name, err := serveForBench(ctx, conn, "echo", worker.Config{CompressThreshold: tt.threshold}, 0)
			is.NoErr(err)
			t.Cleanup(stop)

			got := make(replies, 1)
			req, err := transport.Of(conn).NewRequester(got)
			is.NoErr(err)
			t.Cleanup(func() { req.Close() })
			body, err := wire.AppendRequestArg(wire.Msgpack, nil, bytes.Repeat([]byte("abcd"), 1024))
			is.NoErr(err)
			is.NoErr(req.Publish(ctx, protocol.RoutingKey("async", name), transport.Message{Body: body, CorrelationID: "1"}))
			select {
			case m := <-got:
				is.Equal(wire.Compressed(m.Body), tt.compressed)
			case <-ctx.Done():
				t.Fatal("no reply")
			}
		})
	}
}

// TestBenchTrace: --trace writes the run's execution trace, which go tool
// trace reads (it starts with the trace format's header), and --cpuprofile
// its CPU profile (gzipped, as go tool pprof reads it).
func TestBenchTrace(t *testing.T) {
	is := is.New(t)
	file := filepath.Join(t.TempDir(), "bench.trace")
	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	code, _, errOut := runCLI(t, "bench", "--url", "mem://bench-trace", "--serve", "--concurrency", "1",
		"--duration", "100ms", "--warmup", "0", "--json", "--trace", file, "--cpuprofile", profile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(file)
	is.NoErr(err)
	is.True(len(b) > 1024)                       // events, not just the header
	is.True(bytes.HasPrefix(b, []byte("go 1."))) // the header, "go 1.N trace"
	is.True(bytes.Contains(b[:16], []byte(" trace")))
	p, err := os.ReadFile(profile)
	is.NoErr(err)
	is.True(bytes.HasPrefix(p, []byte{0x1f, 0x8b})) // gzip's magic number
}
