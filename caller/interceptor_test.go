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
