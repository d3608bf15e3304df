package worker

import (
	"context"
	"sync"
	"time"

	"github.com/rabibridge/rabibridge"
)

// Call is a call as middleware sees it.
type Call struct {
	// Function is the function's name.
	Function string
	// Info is the call's metadata (correlation id, deadline, redelivery).
	Info Info
	// Headers are the call's string headers (trace context, for one);
	// middleware must not modify them.
	Headers map[string]string
	// Request is the decoded request, of the handler's request type.
	Request any
}

// Handler runs a call and returns the handler's result.
type Handler func(ctx context.Context, call *Call) (any, error)

// Middleware wraps a Handler: to log, measure, trace, authorise, limit.
// The chain is built once per function when Serve starts; the first
// middleware of Config.Middleware is the outermost.
type Middleware func(next Handler) Handler

// Limit is a middleware that bounds each function's calls: at most
// concurrent running at once and at most perSecond starting each second
// (with bursts of up to perSecond); zero leaves that bound off. A call over
// a bound fails at once with CodeResourceExhausted, which callers see as
// retryable.
func Limit(concurrent int, perSecond float64) Middleware {
	type limiter struct {
		sem    chan struct{}
		mu     sync.Mutex
		tokens float64
		last   time.Time
	}
	var mu sync.Mutex
	limits := map[string]*limiter{}
	get := func(fn string) *limiter {
		mu.Lock()
		defer mu.Unlock()
		l := limits[fn]
		if l == nil {
			l = &limiter{tokens: perSecond, last: time.Now()}
			if concurrent > 0 {
				l.sem = make(chan struct{}, concurrent)
			}
			limits[fn] = l
		}
		return l
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, call *Call) (any, error) {
			l := get(call.Function)
			if perSecond > 0 {
				l.mu.Lock()
				now := time.Now()
				l.tokens = min(perSecond, l.tokens+now.Sub(l.last).Seconds()*perSecond)
				l.last = now
				ok := l.tokens >= 1
				if ok {
					l.tokens--
				}
				l.mu.Unlock()
				if !ok {
					return nil, rabibridge.Errorf(rabibridge.CodeResourceExhausted, "%s: over %g calls per second: retry later", call.Function, perSecond)
				}
			}
			if l.sem != nil {
				select {
				case l.sem <- struct{}{}:
					defer func() { <-l.sem }()
				default:
					return nil, rabibridge.Errorf(rabibridge.CodeResourceExhausted, "%s: %d calls already running: retry later", call.Function, concurrent)
				}
			}
			return next(ctx, call)
		}
	}
}
