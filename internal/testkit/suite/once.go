package suite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/once"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// order is a request that names its key.
type order struct {
	ID  string
	Qty int
}

func (o order) IdempotencyKey() string { return o.ID }

// receipt is what a run-once handler returns: which run of it made it.
type receipt struct {
	ID  string
	Run int64
	At  time.Time
}

// failingStore is a run-once store that cannot be reached.
type failingStore struct{}

func (failingStore) Swap(context.Context, string, []byte, []byte, time.Duration) ([]byte, error) {
	return nil, errors.New("connection refused")
}

// RunOnce: a run-once function runs its handler once per key. A call with
// the key of one that ran gets that run's result; calls that come while it
// runs wait for it; a handler's error is not remembered; a store that
// fails fails the call, and the handler does not run; without a key, each
// call is its own.
func RunOnce(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	store := once.NewMemory()
	var runs atomic.Int64
	gate := make(chan struct{})
	register(e, "pay", func(ctx context.Context, o order) (receipt, error) {
		n := runs.Add(1)
		if o.Qty < 0 {
			return receipt{}, rabibridge.Errorf(rabibridge.CodeInvalidArgument, "qty %d", o.Qty)
		}
		if o.Qty == 99 {
			<-gate
		}
		return receipt{ID: o.ID, Run: n, At: time.Now().UTC().Truncate(time.Millisecond)}, nil
	}, registry.Options{Once: store, OnceTTL: time.Minute})
	register(e, "count", func(ctx context.Context, n int) (int64, error) {
		return runs.Add(1), nil
	}, registry.Options{Once: store})
	register(e, "down", func(ctx context.Context, n int) (int, error) {
		runs.Add(1)
		return n, nil
	}, registry.Options{Once: failingStore{}})
	e.serve(worker.Config{})
	ctx := timeout(t, 30*time.Second)

	first, err := caller.Call[order, receipt](ctx, e.c, e.name("pay"), order{ID: "a", Qty: 1})
	is.NoErr(err)
	is.Equal(first.Run, int64(1))
	again, err := caller.Call[order, receipt](ctx, e.c, e.name("pay"), order{ID: "a", Qty: 1})
	is.NoErr(err)
	is.Equal(again, first) // the first run's result, times and all
	viaInvoke, err := e.c.Invoke(ctx, e.name("pay"), nil, map[string]any{"ID": "a", "Qty": 1})
	is.NoErr(err) // the key is in the request, whoever builds it
	is.Equal(viaInvoke.(map[string]any)["Run"], int64(1))
	is.NoErr(caller.Send(ctx, e.c, e.name("pay"), order{ID: "a", Qty: 1}))
	other, err := caller.Call[order, receipt](ctx, e.c, e.name("pay"), order{ID: "b", Qty: 1})
	is.NoErr(err)
	is.Equal(other.Run, int64(2))
	is.Equal(runs.Load(), int64(2))

	// Calls with the key of a run under way wait for it.
	var wg sync.WaitGroup
	got := make(chan receipt, 5)
	for range 5 {
		wg.Go(func() {
			r, err := caller.Call[order, receipt](ctx, e.c, e.name("pay"), order{ID: "slow", Qty: 99})
			if err != nil {
				t.Error(err)
			}
			got <- r
		})
	}
	for runs.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the other four find the claim
	close(gate)
	wg.Wait()
	close(got)
	for r := range got {
		is.Equal(r.Run, int64(3))
	}
	is.Equal(runs.Load(), int64(3))

	// An error is not remembered: the next call with the key runs.
	_, err = caller.Call[order, receipt](ctx, e.c, e.name("pay"), order{ID: "c", Qty: -1})
	is.Equal(rabibridge.CodeOf(err), rabibridge.CodeInvalidArgument)
	_, err = caller.Call[order, receipt](ctx, e.c, e.name("pay"), order{ID: "c", Qty: -1})
	is.Equal(rabibridge.CodeOf(err), rabibridge.CodeInvalidArgument)
	is.Equal(runs.Load(), int64(5))

	// Without a key each call is its own: two calls, two runs.
	n1, err := caller.Call[int, int64](ctx, e.c, e.name("count"), 1)
	is.NoErr(err)
	n2, err := caller.Call[int, int64](ctx, e.c, e.name("count"), 1)
	is.NoErr(err)
	is.True(n2 == n1+1)
	// Two callers whose correlation ids are the same send with no key and
	// no deadline: two calls, two runs, though neither has a reply address.
	before := runs.Load()
	for range 2 {
		c, err := caller.New(e.conn, caller.Config{CIDMax: 1})
		is.NoErr(err)
		is.NoErr(caller.Send(context.Background(), c, e.name("count"), 1))
		c.Close()
	}
	for runs.Load() < before+2 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	is.Equal(runs.Load(), before+2)

	// A store that fails: a clear error, and no run.
	before = runs.Load()
	_, err = caller.Call[int, int](ctx, e.c, e.name("down"), 1)
	var re *rabibridge.RemoteError
	is.True(errors.As(err, &re))
	is.Equal(re.Code, rabibridge.CodeUnavailable)
	is.True(rabibridge.Retryable(err))
	is.Equal(fmt.Sprint(re.Message), e.name("down")+": the run-once store failed, so the handler did not run: connection refused")
	is.Equal(runs.Load(), before)
}

// RunOnceRedelivery: a call whose worker lost its connection after the
// handler ran, before the call was acknowledged, comes again to another
// worker, which answers with the first run's result; the handler ran once.
func RunOnceRedelivery(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	store := once.NewMemory()
	var runs atomic.Int64
	register(e, "job", func(ctx context.Context, n int) (receipt, error) {
		return receipt{ID: fmt.Sprint(n), Run: runs.Add(1)}, nil
	}, registry.Options{Once: store})

	ran := make(chan struct{}, 1)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	stall := func(next rabibridge.Next) rabibridge.Next { // after the run, before the reply and ack
		return func(ctx context.Context, call *rabibridge.Call) error {
			err := next(ctx, call)
			ran <- struct{}{}
			<-hold
			return err
		}
	}
	connA := dial(t)
	start(t, connA, e.reg, worker.Config{DrainTimeout: 100 * time.Millisecond, Interceptors: []rabibridge.Interceptor{stall}})

	ctx := timeout(t, 20*time.Second)
	answer := make(chan receipt, 1)
	go func() {
		r, err := caller.Call[int, receipt](ctx, e.c, e.name("job"), 7)
		if err != nil {
			t.Error(err)
		}
		answer <- r
	}()
	select {
	case <-ran:
	case <-ctx.Done():
		t.Fatal("the handler never ran")
	}
	e.serve(worker.Config{}) // B, on the caller's connection
	connA.Close()            // A is gone with the call unacknowledged
	select {
	case r := <-answer:
		is.Equal(r, receipt{ID: "7", Run: 1})
	case <-ctx.Done():
		t.Fatal("no answer from the second worker")
	}
	is.Equal(runs.Load(), int64(1))
}

// RunOnceGather: a call to every instance of a run-once function runs once
// on each instance, though they share their store and the key: gathered
// again, each answers with its own first run's result.
func RunOnceGather(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	store := once.NewMemory()
	var runs atomic.Int64
	for range 2 {
		reg := registry.New()
		is.NoErr(registry.RegisterIn(reg, e.name("evict"), func(ctx context.Context, o order) (int64, error) {
			return runs.Add(1), nil
		}, registry.Options{Once: store}))
		start(t, e.conn, reg, worker.Config{DrainTimeout: time.Second})
	}
	gather := func() map[string]int64 {
		answers, err := caller.Gather[order, int64](timeout(t, 3*time.Second), e.c, e.name("evict"), order{ID: "k"})
		is.NoErr(err)
		is.Equal(len(answers), 2)
		out := map[string]int64{}
		for _, a := range answers {
			is.NoErr(a.Err)
			out[a.Instance] = a.Value
		}
		return out
	}
	first := gather()
	is.Equal(runs.Load(), int64(2))
	is.Equal(gather(), first)
	is.Equal(runs.Load(), int64(2))
}
