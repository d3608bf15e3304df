package runonce

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/once"
)

type keyed struct{ K string }

func (k *keyed) IdempotencyKey() string { return k.K } // on the pointer: found all the same

func counter() (*atomic.Int64, func(context.Context, keyed) (int64, error)) {
	var n atomic.Int64
	return &n, func(context.Context, keyed) (int64, error) { return n.Add(1), nil }
}

func callCtx(id, scope string) context.Context {
	return context.WithValue(context.Background(), CallKey{}, Call{ID: id, Scope: scope, Instance: "i1"})
}

func shortLease(t *testing.T, d time.Duration) {
	old := Lease
	Lease = d
	t.Cleanup(func() { Lease = old })
}

func TestKeys(t *testing.T) {
	n, fn := counter()
	f := Wrap("f", fn, once.NewMemory(), time.Minute)
	for _, c := range []struct {
		ctx  context.Context
		req  keyed
		want int64
	}{
		{callCtx("q 1", ""), keyed{"a"}, 1},
		{callCtx("q 2", ""), keyed{"a"}, 1}, // another call, the same key
		{callCtx("q 3", ""), keyed{""}, 2},  // no key: the call's identity
		{callCtx("q 3", ""), keyed{""}, 2},  // redelivered
		{callCtx("q 3", "i1"), keyed{""}, 3},
		{callCtx("q 4", "i1"), keyed{"a"}, 4}, // gathered: each instance runs once
		{callCtx("q 4", "i2"), keyed{"a"}, 5},
		{callCtx("q 5", "i2"), keyed{"a"}, 5},
		{callCtx("q 6", ""), keyed{strings.Repeat("x", 300)}, 6},
		{callCtx("q 7", ""), keyed{strings.Repeat("x", 300)}, 6},
		{callCtx("q 8", ""), keyed{strings.Repeat("x", 299) + "y"}, 7},
	} {
		got, err := f(c.ctx, c.req)
		if err != nil || got != c.want {
			t.Errorf("%v %q: %d, %v; want %d", c.ctx.Value(CallKey{}), c.req.K[:min(len(c.req.K), 5)], got, err, c.want)
		}
	}
	if n.Load() != 7 {
		t.Errorf("%d runs, want 7", n.Load())
	}
	_, err := f(context.Background(), keyed{})
	if rabibridge.CodeOf(err) != rabibridge.CodeInternal || !strings.Contains(err.Error(), "needs a key") {
		t.Errorf("a call with neither key nor identity: %v", err)
	}
	var none *keyed // a nil request: the call's identity
	if k, err := keyOf("f", Call{ID: "q 9"}, none); err != nil || k != "rabibridge:once:f:c:q 9" {
		t.Errorf("nil request: %q, %v", k, err)
	}
	k, _ := keyOf("f", Call{}, keyed{strings.Repeat("x", 300)})
	if len(k) > 100 {
		t.Errorf("a long key is kept whole: %d bytes", len(k))
	}
}

// A claim whose run died lapses after the lease, and the next call runs;
// a run under way renews its claim, so calls wait for it however long it
// takes.
func TestLease(t *testing.T) {
	shortLease(t, 300*time.Millisecond)
	store := once.NewMemory()
	ctx := callCtx("q", "")
	key, _ := keyOf("f", Call{}, keyed{"dead"})
	if _, err := store.Swap(ctx, key, nil, claim("gone"), Lease); err != nil {
		t.Fatal(err)
	}
	n, fn := counter()
	f := Wrap("f", fn, store, time.Minute)
	start := time.Now()
	got, err := f(ctx, keyed{"dead"})
	if err != nil || got != 1 {
		t.Fatalf("after a dead claim: %d, %v", got, err)
	}
	if waited := time.Since(start); waited < Lease/2 {
		t.Errorf("ran after %v, before the dead claim lapsed", waited)
	}

	release := make(chan struct{})
	var slowRuns atomic.Int64
	slow := Wrap("f", func(ctx context.Context, k keyed) (int64, error) {
		slowRuns.Add(1)
		<-release
		return 42, nil
	}, store, time.Minute)
	var wg sync.WaitGroup
	results := make(chan int64, 2)
	for range 2 {
		wg.Go(func() {
			v, err := slow(ctx, keyed{"long"})
			if err != nil {
				t.Error(err)
			}
			results <- v
		})
	}
	time.Sleep(4 * Lease) // past several leases: the run renews its claim
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 42 {
			t.Errorf("got %d, want 42", v)
		}
	}
	if slowRuns.Load() != 1 || n.Load() != 1 {
		t.Errorf("the long run ran %d times, want 1", slowRuns.Load())
	}
}

// A call that waits for another's run ends with its context, naming the
// instance that runs it.
func TestWaitEnds(t *testing.T) {
	store := once.NewMemory()
	key, _ := keyOf("f", Call{}, keyed{"k"})
	if _, err := store.Swap(context.Background(), key, nil, claim("i9"), time.Minute); err != nil {
		t.Fatal(err)
	}
	n, fn := counter()
	ctx, cancel := context.WithTimeout(callCtx("q", ""), 100*time.Millisecond)
	defer cancel()
	_, err := Wrap("f", fn, store, 0)(ctx, keyed{"k"})
	if rabibridge.CodeOf(err) != rabibridge.CodeDeadlineExceeded || !strings.Contains(err.Error(), `running on instance "i9"`) {
		t.Errorf("waiting past the deadline: %v", err)
	}
	if n.Load() != 0 {
		t.Error("the handler ran while another run held the key")
	}
}

// A handler's error or panic drops the claim: the next call runs.
func TestFailuresNotRemembered(t *testing.T) {
	store := once.NewMemory()
	var runs atomic.Int64
	f := Wrap("f", func(ctx context.Context, k keyed) (int, error) {
		switch runs.Add(1) {
		case 1:
			return 0, errors.New("first fails")
		case 2:
			panic("second panics")
		}
		return 3, nil
	}, store, time.Minute)
	ctx := callCtx("q", "")
	if _, err := f(ctx, keyed{"k"}); err == nil {
		t.Fatal("the error was lost")
	}
	func() {
		defer func() { _ = recover() }()
		_, _ = f(ctx, keyed{"k"})
	}()
	if v, err := f(ctx, keyed{"k"}); v != 3 || err != nil {
		t.Errorf("third call: %d, %v", v, err)
	}
	if v, err := f(ctx, keyed{"k"}); v != 3 || err != nil || runs.Load() != 3 {
		t.Errorf("fourth call: %d, %v after %d runs", v, err, runs.Load())
	}
}

// flaky fails its Swaps from the nth on.
type flaky struct {
	once.Store
	calls, failFrom, failUntil atomic.Int64  // calls failFrom..failUntil fail (failUntil 0: all after)
	block                      chan struct{} // when set, a failing call waits for it or its ctx first
}

func (f *flaky) Swap(ctx context.Context, key string, old, value []byte, ttl time.Duration) ([]byte, error) {
	n := f.calls.Add(1)
	if from, until := f.failFrom.Load(), f.failUntil.Load(); from > 0 && n >= from && (until == 0 || n <= until) {
		if f.block != nil {
			select {
			case <-f.block:
			case <-ctx.Done():
			}
		}
		return nil, errors.New("store down")
	}
	return f.Store.Swap(ctx, key, old, value, ttl)
}

// syncBuffer is a log that handlers write while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func eventually(t *testing.T, d time.Duration, cond func() bool) bool {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// A result the store never records is returned all the same, by the
// call's deadline, and once the claim has lapsed the worker's log says
// that a later call will run the handler again.
func TestResultNotRecorded(t *testing.T) {
	shortLease(t, 300*time.Millisecond)
	var logs syncBuffer
	store := &flaky{Store: once.NewMemory()}
	store.failFrom.Store(2) // the claim works, the record fails
	n, fn := counter()
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), CallKey{}, Call{ID: "q", Log: slog.New(slog.NewTextHandler(&logs, nil))}), time.Second)
	defer cancel()
	v, err := Wrap("f", fn, store, time.Minute)(ctx, keyed{"k"})
	if v != 1 || err != nil {
		t.Fatalf("%d, %v", v, err)
	}
	if dl, _ := ctx.Deadline(); time.Now().After(dl) {
		t.Errorf("the result came after the call's deadline")
	}
	if !eventually(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), "did not record its result") }) || n.Load() != 1 {
		t.Errorf("log: %s", logs.String())
	}
}

// The store stalls as the handler returns (its record waits on a store
// that does not answer), then comes back: the caller gets its result by
// its deadline, the result is recorded once the store answers, and a
// retry of the call gets it without a second run.
func TestResultRecordedAfterOutage(t *testing.T) {
	store := &flaky{Store: once.NewMemory(), block: make(chan struct{})}
	store.failFrom.Store(2) // the claim works; the record stalls, then fails once
	store.failUntil.Store(2)
	n, fn := counter()
	f := Wrap("f", fn, store, time.Minute)
	ctx, cancel := context.WithTimeout(callCtx("q", ""), 800*time.Millisecond)
	defer cancel()
	start := time.Now()
	v, err := f(ctx, keyed{"k"})
	if v != 1 || err != nil {
		t.Fatalf("%d, %v", v, err)
	}
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Errorf("the result came %v after the call started, past its deadline", took)
	}
	close(store.block) // the store answers again
	retry, cancel2 := context.WithTimeout(callCtx("q2", ""), 5*time.Second)
	defer cancel2()
	v, err = f(retry, keyed{"k"}) // waits on the claim until the result is recorded
	if v != 1 || err != nil || n.Load() != 1 {
		t.Errorf("a retry: %d, %v; %d runs", v, err, n.Load())
	}
}

// A remembered result that no longer decodes into the response type is an
// error that says so, not a zero value.
func TestResultOfAnotherType(t *testing.T) {
	store := once.NewMemory()
	ctx := callCtx("q", "")
	if _, err := Wrap("f", func(context.Context, keyed) (string, error) { return "text", nil }, store, time.Minute)(ctx, keyed{"k"}); err != nil {
		t.Fatal(err)
	}
	_, fn := counter()
	_, err := Wrap("f", fn, store, time.Minute)(ctx, keyed{"k"})
	if rabibridge.CodeOf(err) != rabibridge.CodeInternal || !strings.Contains(err.Error(), "did the response type change") {
		t.Errorf("got %v", err)
	}
}
