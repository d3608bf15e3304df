package worker

import (
	"context"
	"sync"
	"time"

	"github.com/rabibridge/rabibridge"
)

// Limit is an interceptor that bounds each function's calls: at most
// concurrent running at once and at most perSecond starting each second
// (with bursts of up to perSecond); zero leaves that bound off. A call over
// a bound fails at once with CodeResourceExhausted, which callers see as
// retryable. In a worker it bounds the calls it serves; in a caller, the
// calls it makes.
func Limit(concurrent int, perSecond float64) rabibridge.Interceptor {
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
	return func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, call *rabibridge.Call) error {
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
					return rabibridge.Errorf(rabibridge.CodeResourceExhausted, "%s: over %g calls per second: retry later", call.Function, perSecond)
				}
			}
			if l.sem != nil {
				select {
				case l.sem <- struct{}{}:
					defer func() { <-l.sem }()
				default:
					return rabibridge.Errorf(rabibridge.CodeResourceExhausted, "%s: %d calls already running: retry later", call.Function, concurrent)
				}
			}
			return next(ctx, call)
		}
	}
}
