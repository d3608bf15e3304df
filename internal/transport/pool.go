package transport

import (
	"context"
	"sync"
	"time"
)

// ConsumeOptions configure a subscription.
type ConsumeOptions struct {
	// Prefetch is how many calls may be delivered and not yet acknowledged
	// at once; zero means no limit.
	Prefetch int
	// Concurrency is how many calls of the handler may run at once; zero
	// means Prefetch, or DefaultConcurrency when Prefetch is zero too.
	Concurrency int
	// IdleTimeout is how long a handler goroutine waits for a call before
	// it exits (one always stays); zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxBodySize is the largest call body the handler takes; a larger one
	// is not read into memory, and its Delivery has TooLarge set. Zero
	// means no limit. A connection keeps out only bodies larger than all of
	// its consumers and requesters take.
	MaxBodySize int
}

// Defaults of ConsumeOptions.
const (
	DefaultConcurrency = 256
	DefaultIdleTimeout = 10 * time.Second
)

func (o ConsumeOptions) withDefaults() ConsumeOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = o.Prefetch
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	return o
}

// patience is how long a call runs before another goroutine starts taking
// calls beside it.
const patience = 100 * time.Microsecond

// pool runs a handler on reused goroutines, at most max at once, for the
// deliveries of one source (an attachment of a subscription). The
// goroutines take deliveries from the source themselves, so a call goes
// from the transport to the goroutine that runs it with no hand-over in
// between, and at most one goroutine waits on the source: quick calls run
// one after the other on one goroutine, which stays hot (handing each call
// to a parked goroutine costs more than most handlers). A call that runs
// for patience gets another goroutine taking calls beside it, so slow
// handlers run side by side, up to max. (A fixed set of goroutines over the
// source wakes a parked one per call: docs/benchmarks.md, "Measured and
// kept".) Goroutines that finish a call while
// another waits on the source park as spares, with their grown stacks,
// until they are needed or have waited IdleTimeout.
type pool struct {
	h    func(*Delivery)
	max  int
	idle time.Duration
	live *live

	wake  chan struct{} // a token per spare called back to take calls
	ended chan struct{} // closed when the source has ended
	end   sync.Once

	mu      sync.Mutex
	alive   int // goroutines of this pool
	waiting int // of them, waiting on the source (at most one, briefly two)
	spare   int // of them, parked and not yet called back
}

// source is where a pool takes its deliveries from.
type source[T any] struct {
	ch <-chan T
	// direct, if not nil, delivers too, until ch is closed: what it holds
	// then is served before the end, if keep says so (else dropped, as
	// amqp091-go drops what it holds for a closed channel).
	direct <-chan T
	keep   func() bool
	conv   func(T) *Delivery
	// stop, when closed, ends the goroutines, leaving what ch still holds;
	// nil: never.
	stop <-chan struct{}
	// ended is called once a goroutine finds ch closed (or stop): no
	// delivery reaches h after that.
	ended func()
}

// serve starts a pool for src.
func serve[T any](o ConsumeOptions, l *live, h func(*Delivery), src source[T]) {
	p := &pool{h: h, max: o.Concurrency, idle: o.IdleTimeout, live: l, alive: 1, waiting: 1,
		wake: make(chan struct{}, o.Concurrency), ended: make(chan struct{})}
	ended := src.ended
	src.ended = func() {
		p.end.Do(func() {
			close(p.ended)
			if ended != nil {
				ended()
			}
		})
	}
	l.add()
	go work(p, src)
}

func work[T any](p *pool, src source[T]) {
	defer p.live.done()
	idle := time.NewTimer(p.idle) // for parking as a spare
	idle.Stop()
	defer idle.Stop()
	// A call that runs for patience gets another goroutine to take the
	// next call, unless one is waiting already: a spare if there is one.
	rescue := time.AfterFunc(time.Hour, func() {
		p.mu.Lock()
		if p.waiting > 0 {
			p.mu.Unlock()
			return
		}
		p.waiting++
		switch {
		case p.spare > 0:
			p.spare--
			p.wake <- struct{}{} // buffered for every goroutine: never blocks
		case p.alive < p.max:
			p.alive++
			p.live.add()
			go work(p, src)
		default:
			p.waiting--
		}
		p.mu.Unlock()
	})
	rescue.Stop()
	defer rescue.Stop()
	for {
		// Take calls while this goroutine is the one waiting on the source.
		if src.stop != nil {
			select {
			case <-src.stop: // before ch, which may still hold calls
				src.ended()
				return
			default:
			}
		}
		// No idle timer here: the goroutine waiting on the source stays,
		// and a timer in the select would go into the runtime's timer heap
		// and out again on every call.
		var v T
		var ok bool
		select {
		case v, ok = <-src.ch:
		case v = <-src.direct:
			ok = true
		case <-src.stop:
			src.ended()
			return
		}
		if !ok {
			for drained := src.direct == nil; !drained; {
				select {
				case v := <-src.direct:
					if src.keep() {
						p.h(src.conv(v))
					}
				default:
					drained = true
				}
			}
			src.ended()
			return
		}
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
		rescue.Reset(patience)
		p.h(src.conv(v))
		rescue.Stop()
		p.mu.Lock()
		if p.waiting == 0 {
			p.waiting++ // back to the source
			p.mu.Unlock()
			continue
		}
		p.spare++ // another waits on the source: park
		p.mu.Unlock()
		idle.Reset(p.idle)
		if !p.park(idle) {
			return
		}
	}
}

// park waits as a spare until called back (true), or until the source ends
// or the spare has waited IdleTimeout (false: the goroutine exits).
func (p *pool) park(idle *time.Timer) bool {
	for {
		select {
		case <-p.wake:
			return true // counted as waiting by whoever called
		case <-p.ended:
			return false
		case <-idle.C:
			p.mu.Lock()
			if p.spare > 0 { // no call-back is on its way to this spare
				p.spare--
				p.alive--
				p.mu.Unlock()
				return false
			}
			p.mu.Unlock()
			// Every parked spare has a token on its way: take one.
		}
	}
}

// live counts the handler goroutines of a subscription, over all its
// attachments, so that Wait can wait for them.
type live struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to zero; made by wait
}

func (l *live) add() {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
}

func (l *live) done() {
	l.mu.Lock()
	l.n--
	if l.n == 0 && l.zero != nil {
		close(l.zero)
		l.zero = nil
	}
	l.mu.Unlock()
}

// wait waits until no handler goroutine is left, or ctx ends.
func (l *live) wait(ctx context.Context) error {
	l.mu.Lock()
	if l.n == 0 {
		l.mu.Unlock()
		return nil
	}
	if l.zero == nil {
		l.zero = make(chan struct{})
	}
	zero := l.zero
	l.mu.Unlock()
	select {
	case <-zero:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
