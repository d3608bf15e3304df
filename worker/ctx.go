package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// callCtx is a handler's context: base's values and cancellation, the
// call's Info (one allocation where context.WithValue and the Info would
// take two), and a deadline: the call's, or the broker's consumer timeout
// if that comes first.
//
// The deadline's timer is made only when something waits on it (Done, or a
// context derived from this one): quick handlers seldom do, and a
// context.WithDeadline per call costs a timer and a child registered with
// base, under a lock that every handler goroutine shares. Until then Err
// compares the clock with the deadline. When the handler returns, the
// context is cancelled, as a WithDeadline's would be by its deferred cancel.
type callCtx struct {
	context.Context // base
	info            Info
	deadline        time.Time // zero: none

	timed atomic.Pointer[timedCtx] // the deadline's context, once made
	over  atomic.Bool              // the handler has returned
	mu    sync.Mutex               // makes timed; orders it with finish
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
	if c.deadline.IsZero() {
		return c.Context.Done()
	}
	return c.timedCtx().Done()
}

func (c *callCtx) Err() error {
	if c.deadline.IsZero() {
		return c.Context.Err()
	}
	if t := c.timed.Load(); t != nil {
		return t.ctx.Err()
	}
	if !c.ended() {
		return nil
	}
	return c.timedCtx().Err()
}

func (c *callCtx) Value(key any) any {
	if key == (infoKey{}) {
		return &c.info
	}
	if !c.deadline.IsZero() {
		// context.Cause finds a context's canceller through Value: once
		// this one has ended, it must find the deadline's.
		if t := c.timed.Load(); t != nil {
			return t.ctx.Value(key)
		}
		if c.ended() {
			return c.timedCtx().Value(key)
		}
	}
	return c.Context.Value(key)
}

// ended reports whether the context has ended while its deadline's
// context is not made: base ended, the deadline passed or the handler
// returned.
func (c *callCtx) ended() bool {
	return c.over.Load() || c.Context.Err() != nil || !time.Now().Before(c.deadline)
}

// timedCtx returns the deadline's context, making it on first use.
func (c *callCtx) timedCtx() context.Context {
	if t := c.timed.Load(); t != nil {
		return t.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.timed.Load(); t != nil {
		return t.ctx
	}
	ctx, cancel := context.WithDeadline(c.Context, c.deadline)
	if c.over.Load() {
		cancel()
	}
	c.timed.Store(&timedCtx{ctx, cancel})
	return ctx
}

// finish cancels the context: the handler has returned.
func (c *callCtx) finish() {
	if c.deadline.IsZero() {
		return // as before: base's, which lives on
	}
	c.mu.Lock()
	c.over.Store(true)
	t := c.timed.Load()
	c.mu.Unlock()
	if t != nil {
		t.cancel()
	}
}
