package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/testkit/faultproxy"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestShutdownUnderFaults: a worker told to stop while its broker cannot
// take its replies — a memory alarm, a black-holed path, a stopped node, a
// path that is cut — with the replies of a busy function waiting, stops
// within its DrainTimeout and a second, and its connection closes within a
// second more than its close exchange's bound; every call ends by its
// deadline and half a second. Replies that could not go out are abandoned,
// their calls left unacknowledged for the broker to give back.
func TestShutdownUnderFaults(t *testing.T) {
	t.Parallel()
	for _, fault := range []struct {
		name   string
		inject func(t *testing.T, node *testbroker.Node, p *faultproxy.Proxy)
		close  time.Duration // the connection's close bound: blockedCloseTimeout, else closeTimeout
	}{
		{"memory alarm", func(t *testing.T, node *testbroker.Node, _ *faultproxy.Proxy) {
			if _, err := node.Ctl("set_vm_memory_high_watermark", "0"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { node.Ctl("set_vm_memory_high_watermark", "0.4") })
		}, time.Second},
		{"black hole", func(t *testing.T, _ *testbroker.Node, p *faultproxy.Proxy) { p.Stall(faultproxy.Both) }, 5 * time.Second},
		{"stopped node", func(t *testing.T, node *testbroker.Node, _ *faultproxy.Proxy) {
			if _, err := node.Ctl("stop_app"); err != nil {
				t.Fatal(err)
			}
		}, 5 * time.Second},
		{"reset path", func(t *testing.T, _ *testbroker.Node, p *faultproxy.Proxy) {
			p.Refuse(true)
			p.Reset()
		}, 5 * time.Second},
	} {
		t.Run(fault.name, func(t *testing.T) {
			t.Parallel()
			shutdownUnder(t, fault.inject, fault.close)
		})
	}
}

func shutdownUnder(t *testing.T, inject func(*testing.T, *testbroker.Node, *faultproxy.Proxy), closeBound time.Duration) {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	p := faultproxy.Start(t, fmt.Sprintf("127.0.0.1:%d", node.Port))
	reg := registry.New()
	work := func(ctx context.Context, n int) (int, error) {
		time.Sleep(100 * time.Millisecond)
		return n, nil
	}
	if err := registry.RegisterIn(reg, "work", work, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	const drain = 2 * time.Second
	wconn, _ := dialConn(t, bridge.Config{URL: proxied(node.URL(), p)})
	w := worker.New(wconn, reg, worker.Config{DrainTimeout: drain, Concurrency: 32})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	<-w.Ready()

	cconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
	c := newCaller(t, cconn)
	const deadline = 5 * time.Second
	loadEnds := time.Now().Add(6 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var late []time.Duration
	for range 100 {
		wg.Go(func() {
			for time.Now().Before(loadEnds) {
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				_, err := caller.Call[int, int](ctx, c, "work", 1)
				cancel()
				if over := time.Since(start) - deadline; over > 500*time.Millisecond {
					mu.Lock()
					late = append(late, over)
					mu.Unlock()
				}
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	inject(t, node, p)
	time.Sleep(1500 * time.Millisecond) // replies now wait

	start := time.Now()
	stop()
	select {
	case err := <-served:
		took := time.Since(start)
		t.Logf("Serve returned %v after the stop: %v", took.Round(time.Millisecond), err)
		if took > drain+time.Second+250*time.Millisecond {
			t.Errorf("Serve returned %v after the stop, over DrainTimeout (%v) and a second", took, drain)
		}
	case <-time.After(time.Minute):
		t.Fatalf("Serve had not returned a minute after the stop")
	}
	start = time.Now()
	err := wconn.Close()
	if took := time.Since(start); took > closeBound+time.Second {
		t.Errorf("the worker's connection closed in %v, over %v and a second: %v", took, closeBound, err)
	}
	wg.Wait()
	if len(late) > 0 {
		t.Errorf("%d calls ended later than their deadline and half a second, by up to %v", len(late), slicesMax(late))
	}
}

func slicesMax(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = max(m, x)
	}
	return m
}
