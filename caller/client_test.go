package caller_test

import (
	"context"
	"testing"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestProcedure: a procedure declared once is implemented and called by
// it, of either kind, beside callers by name.
func TestProcedure(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	is.NoErr(err)
	defer conn.Close()
	add := rabibridge.Procedure[demo.AddReq, int]{Name: "add"}
	fib := rabibridge.Procedure[int, int]{Name: "fib", Kind: "sync"}
	reg := registry.New()
	is.NoErr(registry.ImplementIn(reg, add, demo.Add, registry.Options{}))
	is.NoErr(registry.ImplementIn(reg, fib, demo.Fib, registry.Options{}))
	is.True(registry.ImplementIn(reg, rabibridge.Procedure[int, int]{Name: "other", Kind: "sync"}, demo.Fib, registry.Options{Kind: registry.Async}) != nil)
	w := worker.New(conn, reg, worker.Config{})
	is.NoErr(w.Start(ctx))
	defer w.Shutdown(ctx)

	c, err := caller.New(conn, caller.Config{})
	is.NoErr(err)
	defer c.Close()
	sum, err := caller.NewClient(c, add).Call(ctx, demo.AddReq{A: 1, B: 2})
	is.NoErr(err)
	is.Equal(sum, 3)
	n, err := caller.NewClient(c, fib).Call(ctx, 10) // a sync function, from an async caller
	is.NoErr(err)
	is.Equal(n, 55)
	is.NoErr(caller.NewClient(c, add).Send(ctx, demo.AddReq{A: 1}))
	answers, err := caller.NewClient(c, add).Gather(ctx, demo.AddReq{A: 2, B: 2})
	is.NoErr(err)
	is.Equal(len(answers), 1)
	is.Equal(answers[0].Value, 4)
	byName, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 5, B: 5}) // by name, as peers do
	is.NoErr(err)
	is.Equal(byName, 10)
}
