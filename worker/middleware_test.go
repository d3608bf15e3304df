package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// serveWith serves reg with cfg on a fresh in-process broker and returns a
// caller.
func serveWith(t *testing.T, reg *registry.Registry, cfg worker.Config) *caller.Caller {
	t.Helper()
	conn := memDial(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := worker.New(conn, reg, cfg)
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-w.Ready()
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestMiddleware(t *testing.T) {
	is := is.New(t)
	reg := registry.New()
	is.NoErr(registry.RegisterIn(reg, "add", demo.Add, registry.Options{}))
	var mu sync.Mutex
	var seen []string
	record := func(tag string) rabibridge.Interceptor {
		return func(next rabibridge.Next) rabibridge.Next {
			return func(ctx context.Context, call *rabibridge.Call) error {
				mu.Lock()
				seen = append(seen, tag+":"+call.Function)
				mu.Unlock()
				return next(ctx, call)
			}
		}
	}
	double := func(next rabibridge.Next) rabibridge.Next { // sees and changes the decoded request
		return func(ctx context.Context, call *rabibridge.Call) error {
			r := call.Request.(demo.AddReq)
			if r.A < 0 {
				return rabibridge.Errorf(rabibridge.CodePermissionDenied, "no negatives")
			}
			call.Request = demo.AddReq{A: 2 * r.A, B: 2 * r.B}
			return next(ctx, call)
		}
	}
	c := serveWith(t, reg, worker.Config{Interceptors: []rabibridge.Interceptor{record("outer"), record("inner"), double}})
	ctx := context.Background()
	sum, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 1, B: 2})
	is.NoErr(err)
	is.Equal(sum, 6)
	is.Equal(seen, []string{"outer:add", "inner:add"}) // in order, the first outermost
	_, err = caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: -1})
	is.Equal(rabibridge.CodeOf(err), rabibridge.CodePermissionDenied)
	_, err = c.Invoke(ctx, "add", []any{"x"}, nil)
	is.Equal(rabibridge.CodeOf(err), rabibridge.CodeInvalidArgument) // decoding fails before the middleware
}

func TestLimit(t *testing.T) {
	is := is.New(t)
	reg := registry.New()
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	is.NoErr(registry.RegisterIn(reg, "slow", func(ctx context.Context, _ int) (int, error) {
		started <- struct{}{}
		<-release
		return 1, nil
	}, registry.Options{}))
	is.NoErr(registry.RegisterIn(reg, "fast", demo.Fib, registry.Options{}))
	c := serveWith(t, reg, worker.Config{Interceptors: []rabibridge.Interceptor{worker.Limit(1, 0)}})
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { _, err := caller.Call[int, int](ctx, c, "slow", 1); done <- err }()
	<-started
	_, err := caller.Call[int, int](ctx, c, "slow", 2)
	is.True(rabibridge.Retryable(err)) // over the concurrency limit: resource_exhausted
	is.True(strings.Contains(err.Error(), "already running"))
	_, err = caller.Call[int, int](ctx, c, "fast", 10) // limits are per function
	is.NoErr(err)
	close(release)
	is.NoErr(<-done)

	reg2 := registry.New()
	is.NoErr(registry.RegisterIn(reg2, "fib", demo.Fib, registry.Options{}))
	c2 := serveWith(t, reg2, worker.Config{Interceptors: []rabibridge.Interceptor{worker.Limit(0, 5)}})
	var limited int
	for range 20 {
		if _, err := caller.Call[int, int](ctx, c2, "fib", 5); err != nil {
			var re *rabibridge.RemoteError
			is.True(errors.As(err, &re) && re.Code == rabibridge.CodeResourceExhausted)
			limited++
		}
	}
	is.True(limited >= 10) // a burst of 5, then about 5 a second
}
