package caller_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/once"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// retryFleet serves functions whose failures a test chooses, on mem://.
type retryFleet struct {
	conn *bridge.Conn
	runs map[string]*atomic.Int32
}

// newRetryFleet serves, on an in-process broker of t's own:
//   - "flaky": fails with code unavailable until it has run `fails` times;
//   - "bad": always fails with invalid_argument;
//   - "down": always fails with unavailable;
//   - "lost", "lostonce": run, then the reply says deadline_exceeded the
//     first time (as if the reply were lost after the call ran); "lostonce"
//     is run-once.
func newRetryFleet(t *testing.T, fails int32) *retryFleet {
	t.Helper()
	conn, err := bridge.Dial(context.Background(), bridge.Config{URL: "mem://" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &retryFleet{conn: conn, runs: map[string]*atomic.Int32{}}
	reg := registry.New()
	counted := func(name string, fn func(n int32) (int, error), opts registry.Options) {
		runs := new(atomic.Int32)
		f.runs[name] = runs
		if err := registry.RegisterIn(reg, name, func(ctx context.Context, x int) (int, error) { return fn(runs.Add(1)) }, opts); err != nil {
			t.Fatal(err)
		}
	}
	counted("flaky", func(n int32) (int, error) {
		if n <= fails {
			return 0, rabibridge.Errorf(rabibridge.CodeUnavailable, "not yet (run %d)", n)
		}
		return int(n), nil
	}, registry.Options{})
	counted("bad", func(int32) (int, error) { return 0, rabibridge.Errorf(rabibridge.CodeInvalidArgument, "no") }, registry.Options{})
	counted("down", func(int32) (int, error) { return 0, rabibridge.Errorf(rabibridge.CodeUnavailable, "down") }, registry.Options{})
	counted("lost", func(n int32) (int, error) { return int(n), nil }, registry.Options{})
	counted("lostonce", func(n int32) (int, error) { return int(n), nil }, registry.Options{Once: once.NewMemory()})
	var lostReplies atomic.Int32
	loseFirst := func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, call *rabibridge.Call) error {
			err := next(ctx, call)
			if (call.Function == "lost" || call.Function == "lostonce") && lostReplies.Add(1) == 1 {
				return rabibridge.Errorf(rabibridge.CodeDeadlineExceeded, "the reply was lost")
			}
			return err
		}
	}
	w := worker.New(conn, reg, worker.Config{Interceptors: []rabibridge.Interceptor{loseFirst}})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Shutdown(context.Background()) })
	return f
}

func (f *retryFleet) caller(t *testing.T, p caller.RetryPolicy) *caller.Caller {
	t.Helper()
	c, err := caller.New(f.conn, caller.Config{Interceptors: []rabibridge.Interceptor{caller.Retry(p)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func fast() caller.RetryPolicy {
	return caller.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

// TestRetryRetryable: a call that fails with a retryable code is retried
// until it succeeds, within MaxAttempts, and OnRetry counts the retries.
func TestRetryRetryable(t *testing.T) {
	f := newRetryFleet(t, 2)
	var retries []int
	p := fast()
	p.OnRetry = func(fn string, attempt int, err error) {
		if fn != "flaky" || !errors.Is(err, rabibridge.ErrQueueFull) && rabibridge.CodeOf(err) != rabibridge.CodeUnavailable {
			t.Errorf("OnRetry(%q, %d, %v)", fn, attempt, err)
		}
		retries = append(retries, attempt)
	}
	c := f.caller(t, p)
	got, err := caller.Call[int, int](context.Background(), c, "flaky", 1)
	if err != nil || got != 3 {
		t.Fatalf("flaky: %d, %v; want 3 (the third run)", got, err)
	}
	if len(retries) != 2 || retries[0] != 2 || retries[1] != 3 {
		t.Errorf("retries %v, want [2 3]", retries)
	}

	// Not retryable: one attempt.
	_, err = caller.Call[int, int](context.Background(), c, "bad", 1)
	if rabibridge.CodeOf(err) != rabibridge.CodeInvalidArgument || f.runs["bad"].Load() != 1 {
		t.Errorf("bad: %v after %d runs", err, f.runs["bad"].Load())
	}
}

// TestRetryMaxAttempts: a function that keeps failing is tried
// MaxAttempts times, and the last error comes back.
func TestRetryMaxAttempts(t *testing.T) {
	f := newRetryFleet(t, 100)
	p := fast()
	p.MaxAttempts = 4
	c := f.caller(t, p)
	_, err := caller.Call[int, int](context.Background(), c, "flaky", 1)
	if rabibridge.CodeOf(err) != rabibridge.CodeUnavailable {
		t.Fatalf("err %v", err)
	}
	if n := f.runs["flaky"].Load(); n != 4 {
		t.Errorf("%d runs, want 4", n)
	}
}

// TestRetryMayHaveRun: a call whose reply says it may have run is retried
// only for a function the policy calls idempotent or that is run-once; a
// run-once function's retry is answered with the first run's result, and
// its handler runs once.
func TestRetryMayHaveRun(t *testing.T) {
	t.Run("neither", func(t *testing.T) {
		f := newRetryFleet(t, 0)
		_, err := caller.Call[int, int](context.Background(), f.caller(t, fast()), "lost", 1)
		if rabibridge.CodeOf(err) != rabibridge.CodeDeadlineExceeded || f.runs["lost"].Load() != 1 {
			t.Errorf("lost: %v after %d runs; want deadline_exceeded after one", err, f.runs["lost"].Load())
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		f := newRetryFleet(t, 0)
		p := fast()
		p.Idempotent = func(fn string) bool { return fn == "lost" }
		got, err := caller.Call[int, int](context.Background(), f.caller(t, p), "lost", 1)
		if err != nil || got != 2 || f.runs["lost"].Load() != 2 {
			t.Errorf("lost: %d, %v after %d runs; want the second run's 2", got, err, f.runs["lost"].Load())
		}
	})
	t.Run("run-once", func(t *testing.T) {
		f := newRetryFleet(t, 0)
		got, err := caller.Call[int, int](context.Background(), f.caller(t, fast()), "lostonce", 1)
		if err != nil || got != 1 || f.runs["lostonce"].Load() != 1 {
			t.Errorf("lostonce: %d, %v after %d runs; want the first run's 1, run once", got, err, f.runs["lostonce"].Load())
		}
	})
}

// TestRetryBudget: a fleet that fails every call sees a few retries, then
// none: the budget holds MaxTokens, each failure takes one, and no call
// retries at half or less.
func TestRetryBudget(t *testing.T) {
	f := newRetryFleet(t, 0)
	p := fast()
	p.MaxAttempts = 5
	p.MaxTokens = 6 // retries while more than 3 are left
	c := f.caller(t, p)
	for range 10 {
		if _, err := caller.Call[int, int](context.Background(), c, "down", 1); rabibridge.CodeOf(err) != rabibridge.CodeUnavailable {
			t.Fatal(err)
		}
	}
	// Call 1: tries at 6, 5, 4 tokens, fails at 3 (no retry). Calls 2 to
	// 10: one attempt each.
	if n := f.runs["down"].Load(); n != 3+9 {
		t.Errorf("%d runs for 10 calls, want 12", n)
	}
}

// TestRetryWithinDeadline: a retry whose backoff would pass the call's
// deadline is not waited for.
func TestRetryWithinDeadline(t *testing.T) {
	f := newRetryFleet(t, 100)
	p := caller.RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Hour}
	c := f.caller(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := caller.Call[int, int](ctx, c, "flaky", 1)
	if rabibridge.CodeOf(err) != rabibridge.CodeUnavailable {
		t.Fatalf("err %v", err)
	}
	// Each retry's wait is random below an hour: at most a tiny share
	// fits in 2 s, so nearly always no retry at all.
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v: waited past the deadline", took)
	}
}

// TestRetryKeysEachCall: each call gets a key of its own, also when an
// outer interceptor hands every call the same headers map, which Retry
// leaves as it was: a run-once function runs once per call, not once in
// all.
func TestRetryKeysEachCall(t *testing.T) {
	f := newRetryFleet(t, 0)
	shared := map[string]string{"x-tenant": "acme"}
	tenant := func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, call *rabibridge.Call) error {
			call.Headers = shared
			return next(ctx, call)
		}
	}
	c, err := caller.New(f.conn, caller.Config{Interceptors: []rabibridge.Interceptor{tenant, caller.Retry(fast())}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for want := 1; want <= 3; want++ {
		// lostonce loses its first reply: the first call is retried and
		// answered from its record; the later ones run anew.
		got, err := caller.Call[int, int](context.Background(), c, "lostonce", 1)
		if err != nil || got != want {
			t.Fatalf("call %d: %d, %v; want run %d", want, got, err, want)
		}
	}
	if len(shared) != 1 {
		t.Errorf("the shared headers were changed: %v", shared)
	}
}
