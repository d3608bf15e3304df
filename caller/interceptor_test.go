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

// TestInterceptors: interceptors run in order, see the result, and the
// headers they set reach the worker's middleware.
func TestInterceptors(t *testing.T) {
	is := is.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	is.NoErr(err)
	defer conn.Close()
	reg := registry.New()
	is.NoErr(registry.RegisterIn(reg, "add", demo.Add, registry.Options{}))
	tenants := make(chan string, 4)
	w := worker.New(conn, reg, worker.Config{Interceptors: []rabibridge.Interceptor{func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, call *rabibridge.Call) error {
			tenants <- call.Headers["x-tenant"]
			return next(ctx, call)
		}
	}}})
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	<-w.Ready()

	var order []string
	tag := func(name string) rabibridge.Interceptor {
		return func(next rabibridge.Next) rabibridge.Next {
			return func(ctx context.Context, inv *rabibridge.Call) error {
				order = append(order, name+">"+inv.Function)
				if inv.Headers == nil {
					inv.Headers = map[string]string{}
				}
				inv.Headers["x-tenant"] = "acme"
				err := next(ctx, inv)
				order = append(order, name+"<"+inv.Function)
				return err
			}
		}
	}
	var seen any
	peek := func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, inv *rabibridge.Call) error {
			err := next(ctx, inv)
			if p, ok := inv.Response.(*int); ok { // *any for Invoke
				seen = *p
			}
			return err
		}
	}
	c, err := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{tag("a"), tag("b"), peek}})
	is.NoErr(err)
	defer c.Close()
	sum, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 2, B: 3})
	is.NoErr(err)
	is.Equal(sum, 5)
	is.Equal(seen, 5)
	is.Equal(order, []string{"a>add", "b>add", "b<add", "a<add"})
	is.Equal(<-tenants, "acme")

	v, err := c.Invoke(ctx, "add", []any{1, 1}, nil)
	is.NoErr(err)
	is.Equal(v, int64(2))
}

// TestInterceptorReplacesRequest: what a caller's interceptor puts in
// Call.Request is what is sent, of the call's type or of another, as a
// worker's interceptor's replacement is what its handler gets.
func TestInterceptorReplacesRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := registry.New()
	if err := registry.RegisterIn(reg, "add", demo.Add, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{})
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	<-w.Ready()

	type oldAdd struct{ X, Y int } // a shape callers still send
	replace := func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, call *rabibridge.Call) error {
			switch r := call.Request.(type) {
			case demo.AddReq:
				if r.B == 0 {
					r.B = 100 // a default
				}
				call.Request = r
			case oldAdd:
				call.Request = demo.AddReq{A: r.X, B: r.Y} // migrated
			case caller.Args:
				call.Request = caller.Args{Kwargs: map[string]any{"a": 7, "b": 8}}
			}
			if err := next(ctx, call); err != nil {
				return err
			}
			return next(ctx, call) // a retry sends the replacement again
		}
	}
	c, err := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{replace}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	is := is.New(t)
	sum, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 1})
	is.NoErr(err)
	is.Equal(sum, 101)
	sum, err = caller.Call[oldAdd, int](ctx, c, "add", oldAdd{X: 2, Y: 3})
	is.NoErr(err)
	is.Equal(sum, 5)
	v, err := c.Invoke(ctx, "add", []any{1, 1}, nil)
	is.NoErr(err)
	is.Equal(v, int64(15))
}
