package caller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/pause"
	"github.com/rabibridge/rabibridge/internal/protocol"
)

// RetryPolicy configures Retry. The zero value is useful.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts of one call, the first included;
	// zero means 3, one means no retries.
	MaxAttempts int
	// InitialBackoff and MaxBackoff bound the wait before a retry: before
	// retry n it is a random duration in [0, min(MaxBackoff,
	// InitialBackoff×Multiplier^(n-1))) ("full jitter", so that callers
	// that failed together do not retry together). Zero means 50 ms, 2 s
	// and 2. A wait that would pass the call's deadline is not started:
	// the call returns its last error instead.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	// Idempotent reports whether a call of the function may run twice
	// harmlessly; nil means none may. A call that may already have run (its
	// connection was lost after the broker took it, or its worker's
	// deadline passed) is retried only when its function is run-once
	// (registry.Options.Once: the retry carries the first attempt's key, so
	// the worker answers it with the first run's result) or Idempotent says
	// so. Failures where nothing ran are retried for every function.
	Idempotent func(function string) bool
	// MaxTokens and TokenRatio are the retry budget of the caller the
	// interceptor is installed in, a token bucket as gRPC's retry
	// throttling: it holds MaxTokens (zero: 10) at first; each failed
	// attempt takes one, each success puts TokenRatio back (zero: 0.1); no
	// call retries while it holds half or less. So a fleet that fails every
	// call sees a few retries and then none, and a healthy one at most
	// about TokenRatio extra calls per call.
	MaxTokens  float64
	TokenRatio float64
	// OnRetry, when set, is told of every retry before its wait: to count
	// them (prometheus.Metrics.Retried does). attempt is the attempt about
	// to be made, from 2.
	OnRetry func(function string, attempt int, err error)
	// Logger receives a line per retry and per call the budget stopped;
	// nil means the caller's logger.
	Logger *slog.Logger
}

// Retry returns a caller interceptor that retries a call's retryable
// failures: a full queue (rabibridge.ErrQueueFull), a function with no
// queue while its workers reconnect, and the codes unavailable and
// resource_exhausted, after which nothing ran (a call made while the
// connection is down needs no retry: it waits for the connection, within
// its deadline); and, for run-once or idempotent functions only (see
// RetryPolicy.Idempotent), a connection lost after the broker took the call
// and deadline_exceeded from the worker. It retries within the call's
// deadline, with exponential backoff and full jitter, while the caller's
// retry budget allows. Give each Caller its own Retry: the budget is the
// interceptor's.
//
//	c, err := caller.New(conn, caller.Config{
//		Interceptors: []rabibridge.Interceptor{caller.Retry(caller.RetryPolicy{})},
//	})
func Retry(p RetryPolicy) rabibridge.Interceptor {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 3
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 50 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 2 * time.Second
	}
	if p.Multiplier < 1 {
		p.Multiplier = 2
	}
	if p.MaxTokens <= 0 {
		p.MaxTokens = 10
	}
	if p.TokenRatio <= 0 {
		p.TokenRatio = 0.1
	}
	b := &budget{max: p.MaxTokens, tokens: p.MaxTokens, ratio: p.TokenRatio}
	onceFns := &runOnceCache{}
	keys := &callKeys{prefix: fmt.Sprintf("%016x-", mrand.Uint64())}
	return func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, call *rabibridge.Call) error {
			if call.Worker {
				return next(ctx, call)
			}
			r := retrier{p: p, b: b, once: onceFns, call: call}
			return r.run(ctx, next, keys)
		}
	}
}

type retrier struct {
	p    RetryPolicy
	b    *budget
	once *runOnceCache
	call *rabibridge.Call
}

// callKeys names a Retry's calls: a prefix of its own and a count.
type callKeys struct {
	prefix string
	n      atomic.Uint64
}

func (k *callKeys) next() string { return k.prefix + strconv.FormatUint(k.n.Add(1), 10) }

func (r *retrier) run(ctx context.Context, next rabibridge.Next, keys *callKeys) error {
	call := r.call
	// A run-once function finds the retry's run by this key. The headers
	// are copied: an outer interceptor may hand every call the same map.
	if call.Headers[protocol.HeaderCallKey] == "" {
		h := make(map[string]string, len(call.Headers)+1)
		maps.Copy(h, call.Headers)
		h[protocol.HeaderCallKey] = keys.next()
		call.Headers = h
	}
	for attempt := 1; ; attempt++ {
		err := next(ctx, call)
		if err == nil {
			r.b.success()
			return nil
		}
		safe, maybe := classify(err)
		if !safe && !maybe {
			return err
		}
		r.b.failure()
		if attempt >= r.p.MaxAttempts || ctx.Err() != nil {
			return err
		}
		if !safe && !r.mayRepeat(ctx) {
			return err
		}
		if !r.b.allows() {
			r.log(ctx).Warn("not retrying a call: the retry budget is spent", "function", call.Function, "error", err)
			return err
		}
		wait := r.backoff(attempt)
		if d, ok := ctx.Deadline(); ok && time.Until(d) <= wait {
			return err
		}
		if r.p.OnRetry != nil {
			r.p.OnRetry(call.Function, attempt+1, err)
		}
		r.log(ctx).Info("retrying a call", "function", call.Function, "attempt", attempt+1, "wait", wait, "error", err)
		if !pause.For(ctx, wait) {
			return err
		}
	}
}

// log is the policy's logger, or the caller's.
func (r *retrier) log(ctx context.Context) *slog.Logger {
	if r.p.Logger != nil {
		return r.p.Logger
	}
	if pc, ok := ctx.Value(encoderKey{}).(pending); ok && pc.c != nil {
		return pc.c.log
	}
	return slog.Default()
}

// backoff is the wait before the retry after attempt: full jitter.
func (r *retrier) backoff(attempt int) time.Duration {
	ceil := float64(r.p.InitialBackoff) * math.Pow(r.p.Multiplier, float64(attempt-1))
	ceil = min(ceil, float64(r.p.MaxBackoff))
	if ceil < 1 {
		return 0
	}
	return time.Duration(mrand.Int64N(int64(ceil)))
}

// mayRepeat reports whether the call may run a second time: its function
// is idempotent by the policy, or run-once by its workers' description.
func (r *retrier) mayRepeat(ctx context.Context) bool {
	if r.p.Idempotent != nil && r.p.Idempotent(r.call.Function) {
		return true
	}
	pc, ok := ctx.Value(encoderKey{}).(pending)
	if !ok || pc.c == nil {
		return false
	}
	return r.once.runOnce(ctx, pc.c, r.call.Function)
}

// classify says whether err is a failure after which nothing ran (safe),
// or one after which the call may have run (maybe); neither: not retryable.
func classify(err error) (safe, maybe bool) {
	var re *rabibridge.RemoteError
	if errors.As(err, &re) { // before the context errors: a RemoteError is one of them by its code
		switch re.Code {
		case rabibridge.CodeUnavailable, rabibridge.CodeResourceExhausted:
			return true, false
		case rabibridge.CodeDeadlineExceeded:
			return false, true
		}
		return false, false
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, rabibridge.ErrClosed):
		return false, false // the caller's own: no time, or no wish, to retry
	case errors.Is(err, rabibridge.ErrQueueFull):
		return true, false
	case errors.Is(err, rabibridge.ErrNoSuchFunction):
		// Retryable only while its workers may be reconnecting (the
		// error then wraps ErrConnectionLost too): no queue took it.
		return errors.Is(err, rabibridge.ErrConnectionLost), false
	case errors.Is(err, rabibridge.ErrConnectionLost):
		return false, true
	}
	return false, false
}

// budget is a caller's retry budget: gRPC's retry throttling.
type budget struct {
	mu     sync.Mutex
	max    float64
	tokens float64
	ratio  float64
}

func (b *budget) success() {
	b.mu.Lock()
	b.tokens = min(b.max, b.tokens+b.ratio)
	b.mu.Unlock()
}

func (b *budget) failure() {
	b.mu.Lock()
	b.tokens = max(0, b.tokens-1)
	b.mu.Unlock()
}

func (b *budget) allows() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens > b.max/2
}

// runOnceCache remembers which functions the fleet runs once, from
// discovery, for a minute.
type runOnceCache struct {
	mu sync.Mutex
	m  map[string]onceEntry
}

type onceEntry struct {
	once bool
	at   time.Time
}

const runOnceFresh = time.Minute

func (o *runOnceCache) runOnce(ctx context.Context, c *Caller, function string) bool {
	o.mu.Lock()
	e, ok := o.m[function]
	o.mu.Unlock()
	if ok && time.Since(e.at) < runOnceFresh {
		return e.once
	}
	// Discover collects answers for as long as its ctx lasts: take a
	// part of the call's time for it, and leave the rest for the retry.
	wait := DefaultDiscoverWait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d)/4)
	}
	dctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ins, err := c.Discover(dctx)
	if err != nil {
		return false
	}
	seen, once := false, true
	for _, in := range ins {
		for _, f := range in.Functions {
			if f.Name == function {
				seen = true
				once = once && f.OnceTTLMS > 0
			}
		}
	}
	once = seen && once
	o.mu.Lock()
	if o.m == nil {
		o.m = map[string]onceEntry{}
	}
	o.m[function] = onceEntry{once, time.Now()}
	o.mu.Unlock()
	return once
}
