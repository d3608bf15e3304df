package integration

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestQuorumCluster: a quorum queue on a three-node cluster, 50 callers in
// a loop; the node leading the queue stops (and comes back), then the node
// the worker is connected to. Every call returns a result or a retryable
// error within its deadline, and service resumes within 15 s of each stop.
func TestQuorumCluster(t *testing.T) {
	nodes := testbroker.StartCluster(t, 3)
	cfg := bridge.Config{URLs: testbroker.URLs(nodes), ReconnectMin: 50 * time.Millisecond, ReconnectMax: time.Second}
	dial := func() *bridge.Conn {
		conn, _ := dialConn(t, cfg)
		return conn
	}
	reg := registry.New()
	if err := registry.RegisterIn(reg, "add", demo.Add, registry.Options{QueueType: registry.Quorum}); err != nil {
		t.Fatal(err)
	}
	wcfg := cfg
	wcfg.Name = "the-worker"
	wctx0, cancel0 := context.WithTimeout(context.Background(), 30*time.Second)
	wconn, err := bridge.Dial(wctx0, wcfg)
	cancel0()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wconn.Close() })
	wctx, stop := context.WithCancel(context.Background())
	defer stop()
	w := worker.New(wconn, reg, worker.Config{DrainTimeout: 5 * time.Second})
	served := make(chan error, 1)
	go func() { served <- w.Serve(wctx) }()
	<-w.Ready()
	// workerNode is the node the worker's connection is on now.
	workerNode := func() *testbroker.Node {
		for _, n := range nodes {
			if out, err := n.Ctl("list_connections", "--no-table-headers", "client_properties"); err == nil && strings.Contains(out, "the-worker") {
				return n
			}
		}
		return nil
	}
	callers := make([]*caller.Caller, 5)
	for i := range callers {
		c, err := caller.New(dial(), caller.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		callers[i] = c
	}

	var ok, retryable, other atomic.Int64
	var lastOK atomic.Int64
	var mu sync.Mutex
	var others []error
	lctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 50 {
		c := callers[i%len(callers)]
		wg.Go(func() {
			for lctx.Err() == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				start := time.Now()
				sum, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: i, B: 1})
				cancel()
				switch {
				case err == nil && sum == i+1:
					ok.Add(1)
					lastOK.Store(time.Now().UnixNano())
				case err != nil && (rabibridge.Retryable(err) || errors.Is(err, context.DeadlineExceeded)) && time.Since(start) < 6*time.Second:
					retryable.Add(1)
					time.Sleep(50 * time.Millisecond)
				default:
					other.Add(1)
					mu.Lock()
					others = append(others, err)
					mu.Unlock()
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	resumed := func(what string, since time.Time) {
		for time.Unix(0, lastOK.Load()).Before(since) {
			if time.Since(since) > 15*time.Second {
				t.Fatalf("no call succeeded within 15s of %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s: serving again %v later", what, time.Unix(0, lastOK.Load()).Sub(since).Round(time.Millisecond))
	}
	time.Sleep(time.Second)
	if ok.Load() == 0 {
		t.Fatal("no call succeeded before any fault")
	}

	wn := workerNode()
	if wn == nil {
		t.Fatal("cannot find the worker's connection")
	}
	survivor := nodes[0]
	if survivor == wn {
		survivor = nodes[1]
	}
	var leader *testbroker.Node
	leader, err = testbroker.Leader(survivor, nodes, "rpc_async_add")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	leader.Stop()
	resumed("stopping the queue's leader "+leader.Name, at)
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the queue's replica catches up
	wn = workerNode()           // it may have moved when the leader stopped
	if wn == nil {
		t.Fatal("cannot find the worker's connection")
	}
	at = time.Now()
	wn.Stop()
	resumed("stopping the worker's node "+wn.Name, at)
	time.Sleep(time.Second)
	stopLoad()
	wg.Wait()
	t.Logf("calls: %d ok, %d retryable, %d other", ok.Load(), retryable.Load(), other.Load())
	if other.Load() > 0 {
		t.Errorf("%d calls failed otherwise, e.g. %v", other.Load(), others[:min(3, len(others))])
	}
	// No confirmed call is lost: the quorum queue keeps even those whose
	// callers gave up, and the worker takes every one.
	live := nodes[0]
	if live == wn {
		live = nodes[1]
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		out, err := live.Ctl("list_queues", "--no-table-headers", "name", "messages")
		if err == nil && strings.Contains(out, "rpc_async_add\t0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls still waiting 15s after the load stopped: %s %v", out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	handled := int64(0)
	for _, f := range w.Instance().Functions {
		handled += f.Stats.Calls
	}
	if handled < ok.Load() {
		t.Errorf("the worker handled %d calls, fewer than the %d answered", handled, ok.Load())
	}
	stop()
	<-served
}
