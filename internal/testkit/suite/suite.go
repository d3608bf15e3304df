// Package suite is the behavioural test suite every transport must pass: the
// in-process one in the worker/caller tests, RabbitMQ in integration/. Each
// test dials its own connection and uses function names of its own, so tests
// run in parallel on one broker and leave nothing behind.
package suite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/codec"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// Dialer returns a fresh connection to the transport under test.
type Dialer func(t *testing.T) *bridge.Conn

// Run runs every test of the suite.
func Run(t *testing.T, dial Dialer) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Dialer)
	}{
		{"RoundTrip", RoundTrip},
		{"Positional", Positional},
		{"RemoteErrors", RemoteErrors},
		{"Validation", Validation},
		{"Types", Types},
		{"Values", Values},
		{"NoSuchFunction", NoSuchFunction},
		{"QueueFull", QueueFull},
		{"Send", Send},
		{"Gather", Gather},
		{"Deadline", Deadline},
		{"TTL", TTL},
		{"ExpiredCall", ExpiredCall},
		{"Redelivery", Redelivery},
		{"Concurrent", Concurrent},
		{"Compression", Compression},
		{"LargeBodies", LargeBodies},
		{"MalformedCall", MalformedCall},
		{"Drain", Drain},
		{"Cancellation", Cancellation},
		{"LastWorkerDrain", LastWorkerDrain},
		{"Redeclare", Redeclare},
		{"Sync", Sync},
		{"Consumers", Consumers},
		{"Concurrency", Concurrency},
		{"Discovery", Discovery},
		{"Quorum", Quorum},
		{"RunOnce", RunOnce},
		{"RunOnceRedelivery", RunOnceRedelivery},
		{"RunOnceGather", RunOnceGather},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, dial)
		})
	}
}

// env is one test's connection, registry, worker and caller.
type env struct {
	t      *testing.T
	conn   *bridge.Conn
	reg    *registry.Registry
	prefix string
	c      *caller.Caller
	stop   context.CancelFunc
	served chan error
}

func newEnv(t *testing.T, dial Dialer) *env {
	conn := dial(t)
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &env{t: t, conn: conn, reg: registry.New(), prefix: fmt.Sprintf("t%08x_", rand.Uint32()), c: c}
}

// name returns the test's name for function fn.
func (e *env) name(fn string) string { return e.prefix + fn }

func register[Req, Resp any](e *env, fn string, h registry.Func[Req, Resp], o registry.Options) {
	e.t.Helper()
	if err := registry.RegisterIn(e.reg, e.name(fn), h, o); err != nil {
		e.t.Fatal(err)
	}
}

// serve starts a worker for the registry and waits until it consumes.
func (e *env) serve(cfg worker.Config) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.served = cancel, make(chan error, 1)
	w := worker.New(e.conn, e.reg, cfg)
	go func() { e.served <- w.Serve(ctx) }()
	e.t.Cleanup(func() { e.shutdown() })
	select {
	case <-w.Ready():
		if err := w.Err(); err != nil {
			e.t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		e.t.Fatal("worker not serving after 10s")
	}
}

// start runs a worker of reg on conn until the test ends, and waits until
// it serves.
func start(t *testing.T, conn *bridge.Conn, reg *registry.Registry, cfg worker.Config) *worker.Worker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := worker.New(conn, reg, cfg)
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-served })
	select {
	case <-w.Ready():
		if err := w.Err(); err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker not serving after 10s")
	}
	return w
}

// shutdown stops the worker and returns what Serve returned.
func (e *env) shutdown() error {
	if e.stop == nil {
		return nil
	}
	e.stop()
	e.stop = nil
	select {
	case err := <-e.served:
		return err
	case <-time.After(40 * time.Second):
		e.t.Error("worker did not stop within 40s")
		return nil
	}
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// RoundTrip calls every demo function and typed functions of several types.
func RoundTrip(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	register(e, "echo", demo.Echo, registry.Options{})
	register(e, "add", demo.Add, registry.Options{})
	register(e, "fib", demo.Fib, registry.Options{})
	register(e, "sleep", demo.Sleep, registry.Options{})
	type point struct {
		X, Y float64
		Tags []string `json:"tags,omitempty"`
	}
	register(e, "mirror", func(_ context.Context, p point) (point, error) { return point{p.Y, p.X, p.Tags}, nil }, registry.Options{})
	e.serve(worker.Config{})
	ctx := timeout(t, 10*time.Second)

	sum, err := caller.Call[demo.AddReq, int](ctx, e.c, e.name("add"), demo.AddReq{A: 1, B: 2})
	is.NoErr(err)
	is.Equal(sum, 3)
	f, err := caller.Call[int, int](ctx, e.c, e.name("fib"), 10)
	is.NoErr(err)
	is.Equal(f, 55)
	ms, err := caller.Call[int, int](ctx, e.c, e.name("sleep"), 5)
	is.NoErr(err)
	is.Equal(ms, 5)
	p, err := caller.Call[point, point](ctx, e.c, e.name("mirror"), point{1.5, -2, []string{"a"}})
	is.NoErr(err)
	is.Equal(p, point{-2, 1.5, []string{"a"}})
	s, err := caller.Call[string, string](ctx, e.c, e.name("echo"), "héllo")
	is.NoErr(err)
	is.Equal(s, "héllo")
	l, err := caller.Call[[]int, []int](ctx, e.c, e.name("echo"), []int{1, 2, 3})
	is.NoErr(err)
	is.Equal(l, []int{1, 2, 3})
	m, err := e.c.Invoke(ctx, e.name("echo"), []any{map[string]any{"k": "v"}}, nil)
	is.NoErr(err)
	is.Equal(m, map[string]any{"k": "v"})
}

// Positional calls functions the way other languages do.
func Positional(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	register(e, "add", demo.Add, registry.Options{})
	register(e, "fib", demo.Fib, registry.Options{})
	e.serve(worker.Config{})
	ctx := timeout(t, 10*time.Second)
	for _, tc := range []struct {
		args   []any
		kwargs map[string]any
	}{
		{[]any{1, 2}, nil},
		{nil, map[string]any{"a": 1, "b": 2}},
		{[]any{1}, map[string]any{"b": 2}},
	} {
		v, err := e.c.Invoke(ctx, e.name("add"), tc.args, tc.kwargs)
		is.NoErr(err)
		is.Equal(v, int64(3))
	}
	v, err := e.c.Invoke(ctx, e.name("fib"), nil, map[string]any{"n": 10}) // the only keyword argument
	is.NoErr(err)
	is.Equal(v, int64(55))
	_, err = e.c.Invoke(ctx, e.name("add"), []any{1, 2, 3}, nil)
	is.Equal(rabibridge.CodeOf(err), rabibridge.CodeInvalidArgument)
}

// RemoteErrors checks the error of a failing, a coded and a panicking
// handler.
func RemoteErrors(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	register(e, "fail", func(ctx context.Context, _ int) (int, error) {
		_, err := demo.Fail(ctx, struct{}{})
		return 0, err
	}, registry.Options{})
	register(e, "coded", func(context.Context, int) (int, error) {
		return 0, rabibridge.Errorf(rabibridge.CodeFailedPrecondition, "not yet")
	}, registry.Options{})
	register(e, "panic", func(context.Context, int) (int, error) { panic("boom") }, registry.Options{})
	register(e, "deadline", func(context.Context, int) (int, error) { return 0, context.DeadlineExceeded }, registry.Options{})
	e.serve(worker.Config{})
	ctx := timeout(t, 10*time.Second)
	for _, tc := range []struct {
		fn    string
		code  rabibridge.Code
		text  string
		trace bool
	}{
		{"fail", rabibridge.CodeInternal, "demo failure", false},
		{"coded", rabibridge.CodeFailedPrecondition, "not yet", false},
		{"panic", rabibridge.CodeInternal, "panic: boom", true},
		{"deadline", rabibridge.CodeDeadlineExceeded, "deadline", false},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			is := is.New(t)
			_, err := caller.Call[int, int](ctx, e.c, e.name(tc.fn), 1)
			var re *rabibridge.RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("want a remote error, got %v", err)
			}
			is.Equal(re.Code, tc.code)
			is.True(strings.Contains(re.Message, tc.text))
			is.Equal(re.Trace != "", tc.trace)
		})
	}
	// The worker goes on after a panic.
	is := is.New(t)
	_, err := caller.Call[int, int](ctx, e.c, e.name("panic"), 1)
	is.Equal(rabibridge.CodeOf(err), rabibridge.CodeInternal)
	is.True(errors.Is(func() error { _, err := caller.Call[int, int](ctx, e.c, e.name("deadline"), 1); return err }(), context.DeadlineExceeded))
}

// Validation checks that invalid requests are refused with every path named.
func Validation(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	type req struct {
		A int    `json:"a" jsonschema:"minimum=0"`
		S string `json:"s" jsonschema:"maxLength=2"`
	}
	ran := 0
	var mu sync.Mutex
	register(e, "v", func(_ context.Context, r req) (int, error) { mu.Lock(); ran++; mu.Unlock(); return r.A, nil }, registry.Options{Validate: true})
	e.serve(worker.Config{})
	mu.Lock()
	ran = 0 // the readiness probe does not count
	mu.Unlock()
	ctx := timeout(t, 10*time.Second)
	_, err := e.c.Invoke(ctx, e.name("v"), nil, map[string]any{"a": -1, "s": "long"})
	var re *rabibridge.RemoteError
	is.True(errors.As(err, &re))
	is.Equal(re.Code, rabibridge.CodeInvalidArgument)
	is.True(strings.Contains(re.Message, "/a"))
	is.True(strings.Contains(re.Message, "/s"))
	n, err := caller.Call[req, int](ctx, e.c, e.name("v"), req{A: 4, S: "ok"})
	is.NoErr(err)
	is.Equal(n, 4)
	mu.Lock()
	is.Equal(ran, 1) // the invalid call never reached the handler
	mu.Unlock()
}

// NoSuchFunction calls a function nobody serves, then one that exists on
// the same caller.
func NoSuchFunction(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	register(e, "add", demo.Add, registry.Options{})
	e.serve(worker.Config{})
	ctx := timeout(t, 10*time.Second)
	for range 3 {
		_, err := caller.Call[int, int](ctx, e.c, e.name("missing"), 1)
		is.True(errors.Is(err, rabibridge.ErrNoSuchFunction))
		is.True(!rabibridge.Retryable(err)) // it never answered: not worth retrying
		is.True(strings.Contains(err.Error(), e.name("missing")))
		sum, err := caller.Call[demo.AddReq, int](ctx, e.c, e.name("add"), demo.AddReq{A: 2, B: 2})
		is.NoErr(err)
		is.Equal(sum, 4)
	}
	// A function that answered a moment ago and has no queue now (its
	// workers left, or are reconnecting) is missing, and retryable.
	is.NoErr(e.shutdown())
	_, err := caller.Call[demo.AddReq, int](ctx, e.c, e.name("add"), demo.AddReq{})
	is.True(errors.Is(err, rabibridge.ErrNoSuchFunction))
	is.True(rabibridge.Retryable(err))
}

// blocker is a handler that signals each start and waits for release.
type blocker struct {
	started chan int
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan int, 100), release: make(chan struct{})}
}

func (b *blocker) handle(ctx context.Context, n int) (int, error) {
	if n < 0 {
		return n, nil // readiness probes pass straight through
	}
	b.started <- n
	select {
	case <-b.release:
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// QueueFull fills a function's queue while its one consumer is busy.
func QueueFull(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	b := newBlocker()
	register(e, "busy", b.handle, registry.Options{QueueSize: 2, FetchSize: 1})
	e.serve(worker.Config{})
	ctx := timeout(t, 20*time.Second)

	type res struct {
		n   int
		err error
	}
	results := make(chan res, 10)
	callN := func(n int) {
		v, err := caller.Call[int, int](ctx, e.c, e.name("busy"), n)
		results <- res{v, err}
	}
	go callN(1)
	<-b.started // the consumer holds call 1; the queue is empty
	for n := 2; n <= 6; n++ {
		go callN(n)
	}
	var full []error
	for len(full) < 3 {
		select {
		case r := <-results:
			is.True(errors.Is(r.err, rabibridge.ErrQueueFull)) // only rejections come back while blocked
			full = append(full, r.err)
		case <-ctx.Done():
			t.Fatalf("got %d queue-full errors, want 3", len(full))
		}
	}
	close(b.release)
	for range 3 {
		r := <-results
		is.NoErr(r.err) // call 1 and the two queued calls complete
	}
}

// Send: a call that wants no reply returns once the broker has it, while
// its handler still runs; the handler runs once per call, a failing one
// costs nothing but a log line, and the worker serves on. Send to a
// missing function or a full queue fails as Call does.
func Send(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	b := newBlocker()
	register(e, "busy", b.handle, registry.Options{QueueSize: 1, FetchSize: 1})
	register(e, "fail", func(context.Context, int) (int, error) {
		return 0, rabibridge.Errorf(rabibridge.CodeInternal, "nobody hears this")
	}, registry.Options{})
	register(e, "add", demo.Add, registry.Options{})
	e.serve(worker.Config{})
	ctx := timeout(t, 20*time.Second)

	is.NoErr(caller.Send(ctx, e.c, e.name("busy"), 1)) // returns with the handler still blocked
	select {
	case n := <-b.started:
		is.Equal(n, 1)
	case <-ctx.Done():
		t.Fatal("the handler of a sent call never ran")
	}
	is.NoErr(caller.Send(ctx, e.c, e.name("busy"), 2)) // the one place in the queue
	err := caller.Send(ctx, e.c, e.name("busy"), 3)
	is.True(errors.Is(err, rabibridge.ErrQueueFull))
	close(b.release)
	select {
	case n := <-b.started:
		is.Equal(n, 2) // the queued call runs; 3 was refused
	case <-ctx.Done():
		t.Fatal("the queued sent call never ran")
	}

	err = caller.Send(ctx, e.c, e.name("missing"), 1)
	is.True(errors.Is(err, rabibridge.ErrNoSuchFunction))
	is.True(strings.Contains(err.Error(), e.name("missing")))

	for range 3 {
		is.NoErr(caller.Send(ctx, e.c, e.name("fail"), 1))
	}
	sum, err := caller.Call[demo.AddReq, int](ctx, e.c, e.name("add"), demo.AddReq{A: 2, B: 3})
	is.NoErr(err) // the worker serves on, and calls get their replies
	is.Equal(sum, 5)
	select {
	case n := <-b.started:
		t.Fatalf("call %d ran twice, or a refused call ran", n)
	default:
	}
}

// Gather: a call to every live instance of a function gets one answer per
// instance, each with its own error; instances of other functions do not
// answer; one that does not answer by the deadline is in the result with
// context.DeadlineExceeded.
func Gather(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	slow := make(chan struct{})
	t.Cleanup(func() { close(slow) })
	var ws []*worker.Worker
	for i, answer := range []string{"first", "second", "slow"} {
		reg := registry.New()
		is.NoErr(registry.RegisterIn(reg, e.name("who"), func(ctx context.Context, n int) (string, error) {
			switch {
			case answer == "slow":
				select {
				case <-slow:
				case <-ctx.Done():
				}
				return "", ctx.Err()
			case n < 0:
				return "", rabibridge.Errorf(rabibridge.CodeInvalidArgument, "n %d", n)
			}
			return fmt.Sprintf("%s %d", answer, n), nil
		}, registry.Options{}))
		if i == 0 {
			is.NoErr(registry.RegisterIn(reg, e.name("other"), demo.Add, registry.Options{}))
		}
		ws = append(ws, start(t, e.conn, reg, worker.Config{DrainTimeout: time.Second}))
	}
	other := registry.New()
	is.NoErr(registry.RegisterIn(other, e.name("add"), demo.Add, registry.Options{}))
	start(t, e.conn, other, worker.Config{}) // serves no "who": not asked

	ctx := timeout(t, 3*time.Second)
	answers, err := caller.Gather[int, string](ctx, e.c, e.name("who"), 7)
	is.NoErr(err)
	is.Equal(len(answers), 3)
	byID := map[string]caller.Answer[string]{}
	for _, a := range answers {
		byID[a.Instance] = a
	}
	is.Equal(byID[ws[0].Instance().ID].Value, "first 7")
	is.NoErr(byID[ws[0].Instance().ID].Err)
	is.Equal(byID[ws[1].Instance().ID].Value, "second 7")
	// The slow instance, at the deadline: its handler's context ended
	// too, so its own deadline_exceeded may come first.
	is.True(errors.Is(byID[ws[2].Instance().ID].Err, context.DeadlineExceeded))

	// Each instance's own error, in its answer.
	ctx = timeout(t, 2*time.Second)
	answers, err = caller.Gather[int, string](ctx, e.c, e.name("who"), -1)
	is.NoErr(err)
	var invalid int
	for _, a := range answers {
		if rabibridge.CodeOf(a.Err) == rabibridge.CodeInvalidArgument {
			invalid++
		}
	}
	is.Equal(invalid, 2)

	_, err = caller.Gather[int, string](timeout(t, 5*time.Second), e.c, e.name("missing"), 1)
	is.True(errors.Is(err, rabibridge.ErrNoSuchFunction))
}

// Deadline checks that a call returns at its deadline and its handler's
// context is cancelled.
func Deadline(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	cancelled := make(chan error, 1)
	register(e, "slow", func(ctx context.Context, ms int) (int, error) {
		if ms < 0 {
			return 0, nil
		}
		dl, ok := ctx.Deadline()
		if !ok {
			cancelled <- errors.New("handler ctx has no deadline")
			return 0, nil
		}
		info, _ := worker.InfoFrom(ctx)
		if !info.Deadline.Equal(dl) {
			cancelled <- fmt.Errorf("InfoFrom deadline %v, ctx deadline %v", info.Deadline, dl)
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			cancelled <- errors.New("handler ran to its end")
		case <-ctx.Done():
			cancelled <- nil
			return 0, ctx.Err()
		}
		return ms, nil
	}, registry.Options{})
	e.serve(worker.Config{})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := caller.Call[int, int](ctx, e.c, e.name("slow"), 2000)
	is.True(errors.Is(err, context.DeadlineExceeded))
	select {
	case err := <-cancelled:
		is.NoErr(err) // the handler's ctx ended at the caller's deadline
	case <-time.After(5 * time.Second):
		t.Fatal("handler not cancelled within 5s of the deadline")
	}
}

// TTL checks that a call waiting in the queue longer than the function's
// Timeout is dropped, never run.
func TTL(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	b := newBlocker()
	register(e, "ttl", b.handle, registry.Options{FetchSize: 1, MaxQueueWait: 100 * time.Millisecond})
	e.serve(worker.Config{})
	ctx := timeout(t, 20*time.Second)
	first := make(chan error, 1)
	go func() { _, err := caller.Call[int, int](ctx, e.c, e.name("ttl"), 1); first <- err }()
	<-b.started
	second := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		_, err := caller.Call[int, int](ctx, e.c, e.name("ttl"), 2)
		second <- err
	}()
	time.Sleep(400 * time.Millisecond) // call 2 waits past its TTL; a wait, not an assertion on time
	close(b.release)
	is.NoErr(<-first)
	err := <-second
	is.True(errors.Is(err, context.DeadlineExceeded)) // dropped from the queue, never answered
	select {
	case n := <-b.started:
		t.Fatalf("call %d ran after its TTL", n)
	default:
	}
}

// ExpiredCall checks that a call whose caller's deadline passed while it
// waited in the queue never runs.
func ExpiredCall(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	b := newBlocker()
	register(e, "exp", b.handle, registry.Options{FetchSize: 1})
	e.serve(worker.Config{})
	ctx := timeout(t, 20*time.Second)
	first := make(chan error, 1)
	go func() { _, err := caller.Call[int, int](ctx, e.c, e.name("exp"), 1); first <- err }()
	<-b.started
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := caller.Call[int, int](sctx, e.c, e.name("exp"), 2)
	is.True(errors.Is(err, context.DeadlineExceeded))
	time.Sleep(200 * time.Millisecond) // call 2 is dead in the queue now
	close(b.release)
	is.NoErr(<-first)
	// A later call runs: the worker took call 2 off the queue and skipped it.
	go func() { _, err := caller.Call[int, int](ctx, e.c, e.name("exp"), 3); first <- err }()
	is.NoErr(<-first)
	is.Equal(<-b.started, 3) // call 2 never started
}

// Redelivery kills a worker's connection mid-call: another worker gets the
// call, sees that it is a redelivery, and the caller gets its answer.
func Redelivery(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	started := make(chan worker.Info, 10)
	register(e, "job", func(ctx context.Context, n int) (string, error) {
		info, _ := worker.InfoFrom(ctx)
		started <- info
		<-ctx.Done() // worker A never finishes
		return "", ctx.Err()
	}, registry.Options{})
	connA := dial(t)
	start(t, connA, e.reg, worker.Config{DrainTimeout: 100 * time.Millisecond})

	ctx := timeout(t, 20*time.Second)
	answer := make(chan string, 1)
	go func() {
		s, err := caller.Call[int, string](ctx, e.c, e.name("job"), 1)
		if err != nil {
			s = err.Error()
		}
		answer <- s
	}()
	first := <-started
	is.True(!first.Redelivered)

	regB := registry.New()
	is.NoErr(registry.RegisterIn(regB, e.name("job"), func(ctx context.Context, n int) (string, error) {
		info, _ := worker.InfoFrom(ctx)
		started <- info
		return "done by B", nil
	}, registry.Options{}))
	e2 := &env{t: t, conn: e.conn, reg: regB, prefix: e.prefix, c: e.c}
	e2.serve(worker.Config{}) // B consumes too: the queue outlives A

	connA.Close() // worker A dies with the call unacknowledged
	is.Equal(<-answer, "done by B")
	again := <-started
	is.True(again.Redelivered) // the handler can tell
	is.Equal(again.CorrelationID, first.CorrelationID)
}

// Concurrent makes 1,000 calls at once.
func Concurrent(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	register(e, "add", demo.Add, registry.Options{FetchSize: 100})
	e.serve(worker.Config{})
	ctx := timeout(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 1000 {
		wg.Go(func() {
			sum, err := caller.Call[demo.AddReq, int](ctx, e.c, e.name("add"), demo.AddReq{A: i, B: i})
			if err == nil && sum != 2*i {
				err = fmt.Errorf("add(%d, %d) = %d", i, i, sum)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Compression sends bodies around the threshold both ways, with
// compression on and off and both codecs.
func Compression(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	register(e, "echo", demo.Echo, registry.Options{})
	e.serve(worker.Config{})
	ctx := timeout(t, 20*time.Second)
	for _, cfg := range []caller.Config{{}, {CompressThreshold: -1}, {Codec: codec.JSON}, {CompressThreshold: 10}} {
		c, err := caller.New(e.conn, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, n := range []int{10, 1000, 1024, 1025, 5000, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d/%d", cfg.Codec, cfg.CompressThreshold, n), func(t *testing.T) {
				is := is.New(t)
				s := strings.Repeat("rabibridge ", n/11+1)[:n]
				got, err := caller.Call[string, string](ctx, c, e.name("echo"), s)
				is.NoErr(err)
				is.Equal(got, s)
			})
		}
	}
}

// LargeBodies: 1 MiB byte strings that a handler keeps, and the results a
// caller keeps, still hold their bytes after the calls that follow them.
// Large bodies are recycled only where the transport is done with them: on
// the in-process transport a handler's argument is the caller's body, and
// a caller's result the worker's reply.
func LargeBodies(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	var mu sync.Mutex
	var kept [][]byte
	register(e, "keep", func(_ context.Context, b []byte) ([]byte, error) {
		mu.Lock()
		kept = append(kept, b)
		mu.Unlock()
		return b, nil
	}, registry.Options{})
	e.serve(worker.Config{})
	ctx := timeout(t, 60*time.Second)
	var sent, got [][]byte
	for i := range 16 {
		b := make([]byte, 1<<20)
		rand.NewChaCha8([32]byte{byte(i)}).Read(b) // incompressible: sent as it is
		r, err := caller.Call[[]byte, []byte](ctx, e.c, e.name("keep"), b)
		is.NoErr(err)
		sent, got = append(sent, b), append(got, r)
	}
	mu.Lock()
	defer mu.Unlock()
	is.Equal(len(kept), len(sent))
	for i := range sent {
		is.True(bytes.Equal(kept[i], sent[i])) // the handler's argument
		is.True(bytes.Equal(got[i], sent[i]))  // the caller's result
	}
}

// replies is a transport.ReplyHandler that collects replies.
type replies chan transport.Message

func (r replies) Reply(m transport.Message) { r <- m }
func (r replies) Returned(string)           {}
func (r replies) Lost(error)                {}
func (r replies) Recovered()                {}

// MalformedCall publishes bodies no codec can read: each gets an
// invalid_argument reply and the worker goes on serving.
func MalformedCall(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	register(e, "add", demo.Add, registry.Options{})
	e.serve(worker.Config{MaxBodySize: 1 << 20})
	got := make(replies, 10)
	rq, err := transport.Of(e.conn).NewRequester(got)
	is.NoErr(err)
	defer rq.Close()
	ctx := timeout(t, 20*time.Second)
	deep := append(make([]byte, 0, 1002), 0x92, 0x90)
	for range 1000 {
		deep = append(deep, 0x91)
	}
	for i, body := range [][]byte{
		{0xc1},                                // not msgpack
		{0x92, 0x90, 0x82, 0xa1},              // truncated
		{0x92, 0xdd, 0xff, 0xff, 0xff, 0xff},  // a length beyond the body
		append(deep, 0x01),                    // too deep
		wire.Compress(make([]byte, 4<<20), 0), // a zstd bomb past the 1 MiB limit
		{0x92, 0x90, 0x82, 0xa1, 0x61, 0xa1, 0x78, 0xa1, 0x62, 0x01}, // a: "x", wrong type
	} {
		cid := fmt.Sprint(i)
		err := rq.Publish(ctx, protocol.RoutingKey("async", e.name("add")), transport.Message{Body: body, CorrelationID: cid, ReplyTo: rq.ReplyTo()})
		is.NoErr(err)
		select {
		case m := <-got:
			is.Equal(m.CorrelationID, cid)
			is.Equal(m.Headers[protocol.HeaderCode], string(rabibridge.CodeInvalidArgument))
			ok, _, msg, err := wire.DecodeReply(wire.Msgpack, m.Body)
			is.NoErr(err)
			is.True(!ok)
			is.True(msg != "")
		case <-ctx.Done():
			t.Fatalf("no reply to malformed body %d", i)
		}
	}
	// A call nobody can pair a reply with is dropped, and the worker goes on.
	is.NoErr(rq.Publish(ctx, protocol.RoutingKey("async", e.name("add")), transport.Message{Body: []byte{0x92, 0x90, 0x80}}))
	sum, err := caller.Call[demo.AddReq, int](ctx, e.c, e.name("add"), demo.AddReq{A: 1, B: 1})
	is.NoErr(err)
	is.Equal(sum, 2)
	select {
	case m := <-got:
		t.Fatalf("a reply to a call without correlation id or reply address: %+v", m)
	default:
	}
}

// Drain stops a worker with calls in flight: every call is answered and
// Serve returns nil.
func Drain(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	register(e, "sleep", demo.Sleep, registry.Options{})
	e.serve(worker.Config{})
	ctx := timeout(t, 20*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	started := make(chan struct{}, 50)
	for range 50 {
		wg.Go(func() {
			started <- struct{}{}
			_, err := caller.Call[int, int](ctx, e.c, e.name("sleep"), 300)
			errs <- err
		})
	}
	for range 50 {
		<-started
	}
	time.Sleep(100 * time.Millisecond) // let the calls reach the worker
	is.NoErr(e.shutdown())
	wg.Wait()
	close(errs)
	for err := range errs {
		is.NoErr(err)
	}
}

// Cancellation checks that a caller's cancellation reaches the handler
// running its call: its context ends, long before the call's deadline.
func Cancellation(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	started, ended := make(chan struct{}, 1), make(chan error, 1)
	register(e, "wait", func(ctx context.Context, _ int) (int, error) {
		started <- struct{}{}
		select {
		case <-ctx.Done():
			ended <- ctx.Err()
			return 0, ctx.Err()
		case <-time.After(20 * time.Second):
			ended <- nil
			return 0, nil
		}
	}, registry.Options{})
	e.serve(worker.Config{})
	// Once with the caller living on, once closed at once, as a program
	// that exits after a cancelled call (the CLI on Ctrl-C) closes it.
	for _, closeAfter := range []bool{false, true} {
		c := e.c
		if closeAfter {
			var err error
			if c, err = caller.New(e.conn, caller.Config{}); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		go func() {
			<-started
			cancel()
		}()
		_, err := caller.Call[int, int](ctx, c, e.name("wait"), 0)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Call: %v, want context.Canceled", err)
		}
		if closeAfter {
			c.Close()
		}
		select {
		case err := <-ended:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("closed after: %v: the handler's context: %v, want context.Canceled", closeAfter, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("closed after: %v: the handler's context did not end within 10s of the caller's cancellation", closeAfter)
		}
	}
}

// LastWorkerDrain checks that the only worker of a function, stopping with
// calls still queued, leaves none unanswered (its queue would go with it):
// it serves the backlog within its drain time, and answers what that time
// does not cover with a retryable CodeUnavailable, never with silence.
func LastWorkerDrain(t *testing.T, dial Dialer) {
	for _, tc := range []struct {
		name     string
		drain    time.Duration
		calls    int
		allOK    bool
		together bool // a second worker, stopped at the same moment
	}{
		{"backlog served", 20 * time.Second, 60, true, false},
		{"drain time short", 600 * time.Millisecond, 60, false, false},
		{"two workers stopped together", 20 * time.Second, 60, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dial)
			register(e, "sleep", demo.Sleep, registry.Options{FetchSize: 4})
			e.serve(worker.Config{DrainTimeout: tc.drain})
			stopOther := func() error { return nil }
			if tc.together {
				other := &env{t: t, conn: e.conn, reg: e.reg, prefix: e.prefix, c: e.c}
				other.serve(worker.Config{DrainTimeout: tc.drain})
				stop := e.stop
				e.stop = func() { other.stop(); stop() }
				stopOther = other.shutdown
			}
			ctx := timeout(t, 30*time.Second)
			var wg sync.WaitGroup
			errs := make(chan error, tc.calls)
			for range tc.calls {
				wg.Go(func() {
					_, err := caller.Call[int, int](ctx, e.c, e.name("sleep"), 100)
					errs <- err
				})
			}
			time.Sleep(300 * time.Millisecond) // the calls are queued, a few served
			if err := e.shutdown(); err != nil {
				t.Errorf("Serve: %v", err)
			}
			if err := stopOther(); err != nil {
				t.Errorf("the other Serve: %v", err)
			}
			wg.Wait()
			close(errs)
			var ok, unavailable int
			for err := range errs {
				var re *rabibridge.RemoteError
				switch {
				case err == nil:
					ok++
				case errors.As(err, &re) && re.Code == rabibridge.CodeUnavailable && rabibridge.Retryable(err):
					unavailable++
				default:
					t.Errorf("a call got %v, want its result or a retryable unavailable", err)
				}
			}
			if tc.allOK && ok != tc.calls {
				t.Errorf("%d of %d calls served, want all", ok, tc.calls)
			}
			if !tc.allOK && (ok == 0 || unavailable == 0) {
				t.Errorf("%d served, %d answered unavailable: want some of each", ok, unavailable)
			}
		})
	}
}

// Redeclare checks that a worker refuses a queue declared with other
// arguments, naming the fix, and that ReRegister redeclares it.
func Redeclare(t *testing.T, dial Dialer) {
	is := is.New(t)
	e := newEnv(t, dial)
	register(e, "q", demo.Add, registry.Options{QueueSize: 10})
	e.serve(worker.Config{})

	other := registry.New()
	is.NoErr(registry.RegisterIn(other, e.name("q"), demo.Add, registry.Options{QueueSize: 20}))
	err := worker.New(e.conn, other, worker.Config{}).Serve(timeout(t, 10*time.Second))
	is.True(errors.Is(err, transport.ErrQueueMismatch))
	is.True(strings.Contains(err.Error(), e.name("q")))
	is.True(strings.Contains(err.Error(), "ReRegister"))

	// The connection is still usable after the conflict.
	sum, err := caller.Call[demo.AddReq, int](timeout(t, 10*time.Second), e.c, e.name("q"), demo.AddReq{A: 1, B: 1})
	is.NoErr(err)
	is.Equal(sum, 2)
	is.NoErr(e.shutdown())

	again := registry.New()
	is.NoErr(registry.RegisterIn(again, e.name("q"), demo.Add, registry.Options{QueueSize: 20, ReRegister: true}))
	e2 := &env{t: t, conn: e.conn, reg: again, prefix: e.prefix, c: e.c}
	e2.serve(worker.Config{})
	sum, err = caller.Call[demo.AddReq, int](timeout(t, 10*time.Second), e.c, e.name("q"), demo.AddReq{A: 2, B: 2})
	is.NoErr(err)
	is.Equal(sum, 4)
}

// Sync checks that a Sync function runs one call at a time.
func Sync(t *testing.T, dial Dialer) {
	is := is.New(t)
	e := newEnv(t, dial)
	var mu sync.Mutex
	running, most := 0, 0
	register(e, "one", func(ctx context.Context, ms int) (int, error) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(time.Duration(ms) * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return ms, nil
	}, registry.Options{Kind: registry.Sync})
	e.serve(worker.Config{})
	sc, err := caller.New(e.conn, caller.Config{Kind: "sync"})
	is.NoErr(err)
	defer sc.Close()
	ctx := timeout(t, 20*time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := caller.Call[int, int](ctx, sc, e.name("one"), 20)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	is.Equal(most, 1)
	_, err = caller.Call[int, int](ctx, e.c, e.name("one"), 1) // the async key is not bound
	is.True(errors.Is(err, rabibridge.ErrNoSuchFunction))
}

// Consumers checks that worker.Config.Consumers gives a queue more
// consumers: with FetchSize 1, two consumers run two calls at once.
func Consumers(t *testing.T, dial Dialer) {
	atOnce(t, dial, registry.Options{FetchSize: 1}, worker.Config{Consumers: 2}, 3, 2)
}

// Concurrency checks that worker.Config.Concurrency bounds the handlers
// running at once below FetchSize, and that they do run side by side.
func Concurrency(t *testing.T, dial Dialer) {
	atOnce(t, dial, registry.Options{FetchSize: 8}, worker.Config{Concurrency: 3}, 5, 3)
}

// atOnce makes calls calls of a blocking function served with o and cfg,
// and checks that exactly want of them run at once; then all are answered.
func atOnce(t *testing.T, dial Dialer, o registry.Options, cfg worker.Config, calls, want int) {
	e := newEnv(t, dial)
	is := is.New(t)
	b := newBlocker()
	register(e, "block", b.handle, o)
	e.serve(cfg)
	ctx := timeout(t, 20*time.Second)
	done := make(chan error, calls)
	for n := 1; n <= calls; n++ {
		go func() { _, err := caller.Call[int, int](ctx, e.c, e.name("block"), n); done <- err }()
	}
	for i := range want {
		select {
		case <-b.started:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d calls started side by side within 10s", i, want)
		}
	}
	select {
	case n := <-b.started:
		t.Fatalf("call %d started while %d ran (%+v, FetchSize %d)", n, want, cfg, o.FetchSize)
	case <-time.After(200 * time.Millisecond):
	}
	close(b.release)
	for range calls {
		is.NoErr(<-done)
	}
}

// Discovery asks the live worker instances to describe themselves: both of
// the test's instances answer, with their functions and live counts.
func Discovery(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	register(e, "add", demo.Add, registry.Options{Description: "adds"})
	register(e, "fail", func(ctx context.Context, _ int) (int, error) {
		_, err := demo.Fail(ctx, struct{}{})
		return 0, err
	}, registry.Options{})
	e.serve(worker.Config{})
	regB := registry.New()
	is.NoErr(registry.RegisterIn(regB, e.name("add"), demo.Add, registry.Options{Description: "adds"}))
	e2 := &env{t: t, conn: dial(t), reg: regB, prefix: e.prefix, c: e.c}
	e2.serve(worker.Config{})

	ctx := timeout(t, 20*time.Second)
	for i := range 4 {
		_, err := caller.Call[demo.AddReq, int](ctx, e.c, e.name("add"), demo.AddReq{A: i})
		is.NoErr(err)
	}
	_, err := caller.Call[int, int](ctx, e.c, e.name("fail"), 1)
	is.True(err != nil)

	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	all, err := e.c.Discover(dctx)
	is.NoErr(err)
	var mine []registry.Instance // other tests' workers may answer too
	adds, fails := int64(0), int64(0)
	for _, in := range all {
		for _, f := range in.Functions {
			if !strings.HasPrefix(f.Name, e.prefix) {
				continue
			}
			if f.Name == e.name("add") {
				mine = append(mine, in)
				adds += f.Stats.Calls
				is.Equal(f.Description, "adds")
				is.True(strings.Contains(string(f.Request), `"a"`)) // the schema travels
			}
			if f.Name == e.name("fail") {
				fails += f.Stats.Errors["internal"]
			}
		}
	}
	is.Equal(len(mine), 2) // both instances answered
	is.Equal(adds, int64(4))
	is.Equal(fails, int64(1))
	for _, in := range mine {
		is.Equal(in.PID, os.Getpid())
		is.Equal(in.Version, rabibridge.Version)
		is.True(!in.Started.IsZero())
		is.True(in.ID != "")
	}
	is.True(mine[0].ID != mine[1].ID)
}

// Quorum checks a quorum queue: it outlives its workers (a call made while
// none serves waits for the next), and it conflicts with a classic queue of
// the same name.
func Quorum(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	is := is.New(t)
	register(e, "q", demo.Add, registry.Options{QueueType: registry.Quorum})
	t.Cleanup(func() {
		transport.Of(e.conn).DeleteQueue(context.Background(), protocol.QueueName("async", e.name("q")))
	})
	e.serve(worker.Config{})
	ctx := timeout(t, 20*time.Second)
	sum, err := caller.Call[demo.AddReq, int](ctx, e.c, e.name("q"), demo.AddReq{A: 1, B: 1})
	is.NoErr(err)
	is.Equal(sum, 2)
	is.NoErr(e.shutdown())

	answered := make(chan error, 1)
	go func() { // no worker now: the call waits in the queue
		sum, err := caller.Call[demo.AddReq, int](ctx, e.c, e.name("q"), demo.AddReq{A: 2, B: 2})
		if err == nil && sum != 4 {
			err = fmt.Errorf("sum %d", sum)
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("answered with no worker: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	e2 := &env{t: t, conn: e.conn, reg: e.reg, prefix: e.prefix, c: e.c}
	e2.serve(worker.Config{})
	is.NoErr(<-answered) // the next worker answers it

	classic := registry.New()
	is.NoErr(registry.RegisterIn(classic, e.name("q"), demo.Add, registry.Options{}))
	err = worker.New(e.conn, classic, worker.Config{}).Serve(timeout(t, 10*time.Second))
	is.True(errors.Is(err, transport.ErrQueueMismatch))
}
