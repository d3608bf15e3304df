package integration

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// Tolerances of the soak: what may stay above the starting level once the
// calls are done and the garbage collected.
const (
	soakGoroutines = 10
	soakHeap       = 16 << 20
)

// TestSoak makes 200,000 calls (SOAK_CALLS to change it; `make soak` makes
// more), one in ten with a deadline that expires, and checks that the
// goroutines and the heap come back to their starting level.
func TestSoak(t *testing.T) {
	url := testbroker.URL(t)
	calls := 200_000
	if n, err := strconv.Atoi(os.Getenv("SOAK_CALLS")); err == nil && n > 0 {
		calls = n
	}
	reg := registry.New()
	for _, err := range []error{
		registry.RegisterIn(reg, "soakadd", demo.Add, registry.Options{}),
		registry.RegisterIn(reg, "soaksleep", demo.Sleep, registry.Options{}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	dial := func() *bridge.Conn {
		conn, err := bridge.Dial(context.Background(), bridge.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	w := worker.New(dial(), reg, worker.Config{IdleTimeout: 200 * time.Millisecond})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	<-w.Ready()
	c, err := caller.New(dial(), caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	run := func(n int) (ok, expired int64) {
		var next atomic.Int64
		var wg sync.WaitGroup
		var okN, expN, other atomic.Int64
		for range 64 {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					var err error
					if i%10 == 0 { // a deadline that expires: 50 ms of work, 5 ms to wait
						cctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
						_, err = caller.Call[int, int](cctx, c, "soaksleep", 50)
						cancel()
						if errors.Is(err, context.DeadlineExceeded) {
							expN.Add(1)
							continue
						}
					} else {
						cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						_, err = caller.Call[demo.AddReq, int](cctx, c, "soakadd", demo.AddReq{A: int(i), B: 1})
						cancel()
					}
					if err != nil {
						if other.Add(1) < 5 {
							t.Errorf("call %d: %v", i, err)
						}
						continue
					}
					okN.Add(1)
				}
			})
		}
		wg.Wait()
		return okN.Load(), expN.Load()
	}
	settle := func() (int, uint64) {
		time.Sleep(500 * time.Millisecond) // late replies of expired calls arrive and are dropped
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	run(2000) // warm up: pools, channels, handler goroutines
	g0, h0 := settle()
	start := time.Now()
	ok, expired := run(calls)
	took := time.Since(start)
	g1, h1 := settle()
	t.Logf("%d calls in %v (%.0f/s): %d answered, %d expired; goroutines %d -> %d, heap %.1f -> %.1f MiB",
		calls, took.Round(time.Millisecond), float64(calls)/took.Seconds(), ok, expired, g0, g1, float64(h0)/(1<<20), float64(h1)/(1<<20))
	if ok+expired != int64(calls) {
		t.Errorf("%d calls neither answered nor expired", int64(calls)-ok-expired)
	}
	if g1 > g0+soakGoroutines {
		t.Errorf("goroutines: %d before, %d after (tolerance %d)", g0, g1, soakGoroutines)
	}
	if h1 > h0+soakHeap {
		t.Errorf("heap: %d bytes before, %d after (tolerance %d)", h0, h1, soakHeap)
	}
	stop()
	if err := <-served; err != nil {
		t.Error(err)
	}
}
