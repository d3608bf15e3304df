package integration

import (
	"context"
	"testing"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/benchfloor"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// benchServe serves add on its own connection and returns a caller on
// another, as separate processes would have them.
func benchServe(b *testing.B) *caller.Caller {
	url := testbroker.URL(b)
	reg := registry.New()
	if err := registry.RegisterIn(reg, "benchadd", demo.Add, registry.Options{}); err != nil {
		b.Fatal(err)
	}
	wconn, err := bridge.Dial(context.Background(), bridge.Config{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := worker.New(wconn, reg, worker.Config{})
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	<-w.Ready()
	cconn, err := bridge.Dial(context.Background(), bridge.Config{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	c, err := caller.New(cconn, caller.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); cconn.Close(); cancel(); <-done; wconn.Close() })
	return c
}

// BenchmarkCallRabbitMQ is a typed add through the local broker, worker
// and caller in this process: allocations per call include both sides.
func BenchmarkCallRabbitMQ(b *testing.B) {
	c := benchServe(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := caller.Call[demo.AddReq, int](ctx, c, "benchadd", demo.AddReq{A: 1, B: 2}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkFloorRabbitMQ is the same on the raw floor.
func BenchmarkFloorRabbitMQ(b *testing.B) {
	url := testbroker.URL(b)
	srv, err := benchfloor.Serve(url, protocol.DefaultFetchSize, benchfloor.RabiBridge)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cl, err := benchfloor.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	body := []byte{0x92, 0x90, 0x82, 0xa1, 0x61, 0x01, 0xa1, 0x62, 0x02}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cl.Call(ctx, srv.Exchange, srv.Key, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
