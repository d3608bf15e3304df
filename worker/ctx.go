package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/runonce"
	"github.com/rabibridge/rabibridge/internal/transport"
)

// callCtx is a handler's context: base's values and cancellation, the
// call's Info (one allocation where context.WithValue and the Info would
// take two), a deadline (the call's, or the broker's consumer timeout if
// that comes first), and the caller's cancellation.
//
// The context that ends is made only when something waits on it (Done, or
// a context derived from this one): quick handlers seldom do, and a
// context.WithDeadline per call costs a timer and a child registered with
// base, under a lock that every handler goroutine shares (measured against
// the standard pieces in docs/benchmarks.md, "Measured and kept"). Until
// then Err compares the clock with the deadline. When the handler returns,
// the context is cancelled, as a WithDeadline's would be by its deferred
// cancel.
type callCtx struct {
	context.Context // base
	info            Info
	deadline        time.Time           // zero: none
	calls           *callTable          // where its caller's cancellation finds it; nil: nowhere
	call            *transport.Delivery // names it there
	worker          *Worker             // runs it

	timed     atomic.Pointer[timedCtx] // the context that ends, once made
	over      atomic.Bool              // the handler has returned
	cancelled atomic.Bool              // the caller cancelled the call
	watched   atomic.Bool              // in calls: the handler looks at the context
	mu        sync.Mutex               // makes timed
}

type timedCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (c *callCtx) Deadline() (time.Time, bool) {
	d := c.deadline
	if d.IsZero() {
		return c.Context.Deadline()
	}
	if b, ok := c.Context.Deadline(); ok && b.Before(d) {
		return b, true
	}
	return d, true
}

func (c *callCtx) Done() <-chan struct{} {
	c.watch()
	return c.timedCtx().Done()
}

// watch puts the call where its caller's cancellation finds it, once the
// handler looks at its context: one that never does could not stop for it,
// and quick handlers seldom do, so they pay nothing for it.
func (c *callCtx) watch() {
	if c.calls != nil && !c.watched.Load() && c.watched.CompareAndSwap(false, true) {
		if c.calls.watch(c.key(), c) {
			c.cancel() // cancelled before the handler looked
		}
	}
}

func (c *callCtx) Err() error {
	c.watch()
	if t := c.timed.Load(); t != nil {
		return t.ctx.Err()
	}
	if !c.ended() {
		return nil
	}
	return c.timedCtx().Err()
}

func (c *callCtx) Value(key any) any {
	switch key {
	case infoKey{}:
		return &c.info
	case runonce.CallKey{}:
		return c.runOnce()
	}
	// context.Cause finds a context's canceller through Value: once this
	// one has ended, it must find the one that ends.
	if t := c.timed.Load(); t != nil {
		return t.ctx.Value(key)
	}
	if c.ended() {
		return c.timedCtx().Value(key)
	}
	return c.Context.Value(key)
}

// runOnce tells a run-once handler (registry.Options.Once) of its call.
func (c *callCtx) runOnce() runonce.Call {
	rc := runonce.Call{ID: c.call.ReplyTo + " " + c.call.CorrelationID}
	if k := c.call.Headers[protocol.HeaderCallKey]; k != "" {
		rc.ID = "key " + k // the same over a caller's retries
	}
	if w := c.worker; w != nil {
		rc.Instance, rc.Log = w.id, w.log
		if _, gathered := c.call.Headers[protocol.HeaderGather]; gathered {
			rc.Scope = w.id
		}
	}
	return rc
}

// ended reports whether the context has ended while the context that ends
// is not made: base ended, the deadline passed, the caller cancelled or the
// handler returned.
func (c *callCtx) ended() bool {
	return c.over.Load() || c.cancelled.Load() || c.Context.Err() != nil ||
		!c.deadline.IsZero() && !time.Now().Before(c.deadline)
}

// timedCtx returns the context that ends, making it on first use.
func (c *callCtx) timedCtx() context.Context {
	if t := c.timed.Load(); t != nil {
		return t.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.timed.Load(); t != nil {
		return t.ctx
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if c.deadline.IsZero() {
		ctx, cancel = context.WithCancel(c.Context)
	} else {
		ctx, cancel = context.WithDeadline(c.Context, c.deadline)
	}
	c.timed.Store(&timedCtx{ctx, cancel})
	if c.over.Load() || c.cancelled.Load() {
		cancel()
	}
	return ctx
}

// finish cancels the context: the handler has returned.
func (c *callCtx) finish() {
	if c.watched.Load() {
		c.calls.forget(c.key(), c)
	}
	c.end(&c.over)
}

// cancel cancels the context: the caller cancelled the call.
func (c *callCtx) cancel() { c.end(&c.cancelled) }

// end records why the context ends, and cancels the context that ends if
// it is made. No lock: timedCtx stores that context before it reads why,
// so one of the two sees the other and cancels it.
func (c *callCtx) end(why *atomic.Bool) {
	why.Store(true)
	if t := c.timed.Load(); t != nil {
		t.cancel()
	}
}

func (c *callCtx) key() callKey { return callKey{c.call.ReplyTo, c.call.CorrelationID} }

// callKey names a call: its reply address and correlation id, as its
// caller's cancellation names them.
type callKey struct{ replyTo, cid string }

// callTable holds the calls under way whose handlers look at their
// contexts, and the cancellations that found no such call (it had not
// looked yet, or not arrived), for a while.
type callTable struct {
	mu        sync.Mutex
	running   map[callKey]*callCtx
	cancelled map[callKey]time.Time
}

// keepCancelled is how long a cancellation that found no call is kept.
const keepCancelled = time.Minute

// watch adds cc, and reports whether its call was cancelled already.
func (t *callTable) watch(k callKey, cc *callCtx) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.cancelled[k]; ok {
		delete(t.cancelled, k)
		return true
	}
	if t.running == nil {
		t.running = map[callKey]*callCtx{}
	}
	t.running[k] = cc
	return false
}

func (t *callTable) forget(k callKey, cc *callCtx) {
	t.mu.Lock()
	if t.running[k] == cc {
		delete(t.running, k)
	}
	t.mu.Unlock()
}

// cancel cancels call k, now or when its handler looks.
func (t *callTable) cancel(k callKey) *callCtx {
	t.mu.Lock()
	cc := t.running[k]
	if cc == nil {
		now := time.Now()
		if t.cancelled == nil {
			t.cancelled = map[callKey]time.Time{}
		}
		if len(t.cancelled) >= 1024 {
			for k, at := range t.cancelled {
				if now.Sub(at) > keepCancelled {
					delete(t.cancelled, k)
				}
			}
		}
		t.cancelled[k] = now
	}
	t.mu.Unlock()
	if cc != nil {
		cc.cancel()
	}
	return cc
}
