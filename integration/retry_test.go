package integration

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestRetryQueueFull: on RabbitMQ, calls refused by a full queue
// (x-overflow reject-publish) all succeed under caller.Retry, which
// counts its retries; without it some fail with ErrQueueFull.
func TestRetryQueueFull(t *testing.T) {
	url := testbroker.VHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := registry.New()
	err = registry.RegisterIn(reg, "slow", func(ctx context.Context, n int) (int, error) {
		time.Sleep(20 * time.Millisecond)
		return n, nil
	}, registry.Options{QueueSize: 1, FetchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{})
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Shutdown(context.Background())

	burst := func(c *caller.Caller) (full int, other error) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				got, err := caller.Call[int, int](cctx, c, "slow", i)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, rabibridge.ErrQueueFull):
					full++
				case err != nil:
					other = err
				case got != i:
					other = errors.New("a wrong result")
				}
			})
		}
		wg.Wait()
		return full, other
	}

	plain, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if full, err := burst(plain); err != nil || full == 0 {
		t.Fatalf("without Retry: %d full, %v; want some full", full, err)
	}

	var retries sync.Map
	var n int
	var mu sync.Mutex
	retrying, err := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{caller.Retry(caller.RetryPolicy{
		MaxAttempts: 20, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, MaxTokens: 100,
		OnRetry: func(fn string, attempt int, err error) {
			mu.Lock()
			n++
			mu.Unlock()
			retries.Store(rabibridge.CodeOf(err), true)
		},
	})}})
	if err != nil {
		t.Fatal(err)
	}
	defer retrying.Close()
	if full, err := burst(retrying); err != nil || full != 0 {
		t.Fatalf("with Retry: %d full, %v; want none", full, err)
	}
	if _, ok := retries.Load(rabibridge.CodeResourceExhausted); !ok || n == 0 {
		t.Errorf("%d retries counted, of full queues: %v", n, ok)
	}
}
