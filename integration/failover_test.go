package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestFailoverAcrossURLs: a worker given two brokers moves to the other
// when its own is killed, declares its queue there, and serves again.
func TestFailoverAcrossURLs(t *testing.T) {
	a := testbroker.StartNode(t, testbroker.NodeOptions{})
	b := testbroker.StartNode(t, testbroker.NodeOptions{})
	is := is.New(t)
	cfg := bridge.Config{URLs: []string{"amqp://guest:guest@127.0.0.1:1/", a.URL(), b.URL()}, // the first never answers
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}
	dial := func() *bridge.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := bridge.Dial(ctx, cfg)
		is.NoErr(err)
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	reg := registry.New()
	is.NoErr(registry.RegisterIn(reg, "add", demo.Add, registry.Options{}))
	wctx, stop := context.WithCancel(context.Background())
	defer stop()
	w := worker.New(dial(), reg, worker.Config{})
	done := make(chan error, 1)
	go func() { done <- w.Serve(wctx) }()
	<-w.Ready()

	// The worker's node is the one with a connection: the worker's.
	connected := func(n *testbroker.Node) int { // the nodes are the test's own: every connection is ours
		out, _ := n.Ctl("list_connections", "--no-table-headers", "peer_port")
		return len(strings.Fields(out))
	}
	victim, other := a, b
	if connected(b) > 0 {
		victim, other = b, a
	}
	is.Equal(connected(victim), 1)
	// The nodes are not clustered: the caller must start on the worker's
	// node to reach its queue. Dial until it lands there.
	var c *caller.Caller
	for deadline := time.Now().Add(20 * time.Second); c == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the caller never landed on the worker's node")
		}
		conn := dial()
		if connected(victim) == 2 {
			cc, err := caller.New(conn, caller.Config{})
			is.NoErr(err)
			c = cc
			break
		}
		conn.Close()
		for settle := time.Now().Add(5 * time.Second); connected(other) > 0 && time.Now().Before(settle); {
			time.Sleep(20 * time.Millisecond) // the broker notices the close
		}
	}
	defer c.Close()
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 1, B: 2})
		return err
	}
	is.NoErr(call())

	killed := time.Now()
	victim.Kill() // returns once the node is gone from epmd too
	for call() != nil {
		if time.Since(killed) > 15*time.Second {
			t.Fatal("not serving 15s after the node was killed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("serving again %v after the node was killed", time.Since(killed).Round(time.Millisecond))
	is.Equal(connected(other), 2) // both moved to the live node
	stop()
	is.NoErr(<-done)
}
