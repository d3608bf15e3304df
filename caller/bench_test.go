package caller_test

import (
	"context"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// serveMem starts the demo functions on a fresh in-process broker and
// returns a caller for it.
func serveMem(tb testing.TB, name string) *caller.Caller {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + name})
	if err != nil {
		tb.Fatal(err)
	}
	reg := registry.New()
	if err := demo.Register(reg, registry.Options{}); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- worker.New(conn, reg, worker.Config{}).Serve(ctx) }()
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		<-done
		c.Close()
		conn.Close()
	})
	// Wait until the worker consumes.
	for {
		if _, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{}); err == nil {
			return c
		}
	}
}

// BenchmarkCallInProc is a typed add over mem://: the library's own cost
// per call, with no broker.
func BenchmarkCallInProc(b *testing.B) { benchAdd(b, context.Background()) }

// BenchmarkCallInProcDeadline is BenchmarkCallInProc with a deadline on
// each call, as a serious caller sets one: it travels with the call and
// bounds the handler.
func BenchmarkCallInProcDeadline(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	benchAdd(b, ctx)
}

// benchAdd calls add over mem:// with ctx, one call after another.
func benchAdd(b *testing.B, ctx context.Context) {
	c := serveMem(b, b.Name())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 1, B: 2}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallInProcParallel is the same with GOMAXPROCS concurrent
// callers.
func BenchmarkCallInProcParallel(b *testing.B) {
	c := serveMem(b, b.Name())
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 1, B: 2}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkInvokeInProc is a dynamic call, as tools make them.
func BenchmarkInvokeInProc(b *testing.B) {
	c := serveMem(b, b.Name())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Invoke(ctx, "add", []any{1, 2}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChanRoundTrip is the baseline of BenchmarkCallInProc: a request
// and its response between two goroutines over channels, the two hand-offs
// any in-process call to a worker goroutine pays, with no encoding.
func BenchmarkChanRoundTrip(b *testing.B) {
	type req struct {
		a, b  int
		reply chan int
	}
	reqs := make(chan req)
	go func() {
		for r := range reqs {
			r.reply <- r.a + r.b
		}
	}()
	defer close(reqs)
	reply := make(chan int)
	b.ReportAllocs()
	for b.Loop() {
		reqs <- req{1, 2, reply}
		if <-reply != 3 {
			b.Fatal("wrong sum")
		}
	}
}
