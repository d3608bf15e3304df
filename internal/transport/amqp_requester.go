package transport

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/protocol"
)

// amqpRequester publishes calls on a channel in confirm mode that also
// consumes the direct reply-to pseudo-queue. When the channel dies it tells
// its handler (the calls in flight are lost) and attaches again.
type amqpRequester struct {
	t      *amqpTransport
	h      ReplyHandler
	ctx    context.Context
	stop   context.CancelFunc
	closed atomic.Bool

	live atomic.Pointer[amqp.Channel] // ch, for the lock-free fast path

	mu        sync.Mutex
	ch        *amqp.Channel               // nil between attachments
	conn      *amqp.Connection            // ch's
	sock      atomic.Pointer[guardedConn] // conn's socket
	up        chan struct{}               // closed while ch is usable
	fanouts   map[string]bool
	fanoutsOn *amqp.Channel // the channel fanouts were declared on
	returns   map[*amqp.Channel]*returnLoop

	stopped chan struct{}
}

// directReplies is how many replies a requester's channel holds for it.
const directReplies = 256

func (t *amqpTransport) requester(h ReplyHandler) (Requester, error) {
	if l, ok := h.(BodyLimiter); ok {
		t.readUpTo(bodyLimit(l.MaxBodySize()))
	} else {
		t.readUpTo(bodyLimit(0))
	}
	r := &amqpRequester{t: t, h: h, up: make(chan struct{}), stopped: make(chan struct{})}
	r.ctx, r.stop = context.WithCancel(t.ctx)
	first := make(chan error, 1)
	go r.run(first)
	if err := <-first; err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *amqpRequester) run(first chan<- error) {
	defer close(r.stopped)
	recovering := false
	attachment{
		t:      r.t,
		attach: r.attach,
		serve: func(at channel) bool {
			if recovering {
				r.h.Recovered()
				recovering = false
			}
			if !r.serve(at) {
				return false
			}
			recovering = true
			return true
		},
		failed: func(err error) bool {
			r.t.log.Warn("requester cannot attach; retrying", "error", err)
			return true
		},
		abandon: func(at channel) { r.undirect(at); r.gone(at.ch) },
	}.keep(r.ctx, r.ctx, first)
}

// serve passes the replies of at on until its channel ends, then tells the
// handler the calls in flight on it are lost, and says whether to attach
// again.
func (r *amqpRequester) serve(at channel) bool {
	for open := true; open; {
		var d amqp.Delivery
		select {
		case d, open = <-at.in:
		case d = <-at.direct:
		}
		if open {
			r.h.Reply(message(d))
		}
	}
	for drained := false; !drained; { // taken before the channel ended
		select {
		case d := <-at.direct:
			r.h.Reply(message(d))
		default:
			drained = true
		}
	}
	r.undirect(at)
	// The channel ended: the calls in flight on it get no reply.
	cause := error(rabibridge.ErrConnectionLost)
	select {
	case e, ok := <-at.closes:
		if ok && e != nil {
			cause = fmt.Errorf("%w: %w", rabibridge.ErrConnectionLost, e)
		}
	default:
	}
	r.gone(at.ch)
	if r.ctx.Err() != nil {
		if !r.closed.Load() {
			r.h.Lost(errClosed) // the connection was closed under us
		}
		return false
	}
	r.h.Lost(cause)
	r.t.log.Warn("requester's channel closed; attaching again", "error", cause)
	return true
}

// undirect unregisters at's consumer from its socket's directs.
func (r *amqpRequester) undirect(at channel) {
	if sock := r.sock.Load(); sock != nil && at.direct != nil {
		sock.deliver.remove(at.tag, at.direct)
	}
}

// attach opens the requester's channel on c.
func (r *amqpRequester) attach(c *amqp.Connection) (channel, error) {
	ch, err := c.Channel()
	if err != nil {
		return channel{}, lost(err)
	}
	sock := r.t.sockOf(c)
	var direct chan amqp.Delivery
	tag := "rabibridge-go-" + strconv.FormatUint(r.t.tags.Add(1), 10)
	fail := func(what string, err error) (channel, error) {
		if direct != nil {
			sock.deliver.remove(tag, direct)
		}
		ch.Close()
		return channel{}, fmt.Errorf("bridge: %s: %w", what, lost(err))
	}
	// Callers declare the exchange too, as RabiBridge's do: a publish to a
	// missing exchange would close the channel.
	if err := ch.ExchangeDeclare(protocol.Exchange, "direct", true, false, false, false, nil); err != nil {
		return fail("declaring exchange "+protocol.Exchange, err)
	}
	if err := ch.Confirm(false); err != nil {
		return fail("confirm mode", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 64))
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	// Replies come without acknowledgements, so without a bound: a
	// delivery that finds the channel full goes through amqp091-go.
	if sock != nil {
		direct = make(chan amqp.Delivery, directReplies)
		sock.deliver.add(tag, direct)
	}
	replies, err := ch.Consume(directReplyTo, tag, true, false, false, false, nil)
	if err != nil {
		return fail("consuming "+directReplyTo, err)
	}
	loop := &returnLoop{returns: returns, settle: make(chan chan struct{}), ended: make(chan struct{})}
	go func() {
		loop.run(func(ret amqp.Return) {
			// A call nobody consumes comes back (mandatory) before its
			// confirm; the caller fails it with ErrNoSuchFunction.
			cid, _ := protocol.SplitCallID(ret.CorrelationId)
			r.h.Returned(cid)
		})
		r.mu.Lock()
		delete(r.returns, ch)
		r.mu.Unlock()
	}()
	r.mu.Lock()
	if r.returns == nil {
		r.returns = map[*amqp.Channel]*returnLoop{}
	}
	r.returns[ch] = loop
	r.ch, r.conn = ch, c
	r.sock.Store(sock)
	r.live.Store(ch)
	close(r.up)
	r.mu.Unlock()
	return channel{ch: ch, in: replies, closes: closes, direct: direct, tag: tag}, nil
}

// gone forgets channel ch, if it is still the current one.
func (r *amqpRequester) gone(ch *amqp.Channel) {
	r.mu.Lock()
	if ch != nil && r.ch == ch {
		r.ch = nil
		r.live.Store(nil)
		r.up = make(chan struct{})
	}
	r.mu.Unlock()
}

// channel returns the current channel, waiting up to ctx for one.
func (r *amqpRequester) channel(ctx context.Context) (*amqp.Channel, error) {
	if ch := r.live.Load(); ch != nil {
		return ch, nil
	}
	for {
		r.mu.Lock()
		ch, up := r.ch, r.up
		r.mu.Unlock()
		if ch != nil {
			return ch, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, fmt.Errorf("bridge: %w: waiting for the broker: %w", rabibridge.ErrConnectionLost, ctx.Err())
		case <-r.ctx.Done():
			return nil, errClosed
		}
	}
}

func (r *amqpRequester) ReplyTo() string { return directReplyTo }

func (r *amqpRequester) Publish(ctx context.Context, key string, m Message) error {
	ch, err := r.channel(ctx)
	if err != nil {
		return err
	}
	if err := r.t.waitUnblocked(ctx); err != nil {
		return err
	}
	noReply := m.ReplyTo == protocol.NoReply
	if !noReply {
		m.ReplyTo = directReplyTo
	}
	dc, err := publish(ctx, r.sock.Load(), ch, protocol.Exchange, key, true, publishing(m))
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return r.unconfirmed(err)
	case !ok && ch.IsClosed(): // pending confirms read as nacks when a channel dies
		return fmt.Errorf("bridge: %w: the channel closed before the broker confirmed the call", rabibridge.ErrConnectionLost)
	case !ok: // x-overflow reject-publish: the queue is full
		return rabibridge.ErrQueueFull
	case noReply:
		// No reply will tell the caller that the call came back: make
		// sure the handler has seen its return, if there was one, before
		// Publish returns.
		r.mu.Lock()
		loop := r.returns[ch]
		r.mu.Unlock()
		return loop.settled(ctx)
	}
	return nil
}

func unsettled(ctx context.Context) error {
	return fmt.Errorf("bridge: the broker took the call, but whether a queue did is not known yet: %w", ctx.Err())
}

// returnLoop hands a channel's returned calls to the requester's handler,
// in the order they came.
type returnLoop struct {
	returns <-chan amqp.Return
	settle  chan chan struct{} // requests to handle every return received so far
	ended   chan struct{}      // closed when the channel's returns end
}

func (l *returnLoop) run(handle func(amqp.Return)) {
	defer close(l.ended)
	for {
		select {
		case ret, ok := <-l.returns:
			if !ok {
				return
			}
			handle(ret)
		case done := <-l.settle:
			for len(l.returns) > 0 {
				if ret, ok := <-l.returns; ok {
					handle(ret)
				}
			}
			close(done)
		}
	}
}

// settled returns once every return received before it was called has
// been handled. The broker sends a call's return before its confirm, so
// after the confirm, a call that came back has been handled.
func (l *returnLoop) settled(ctx context.Context) error {
	if l == nil {
		return nil // the channel's returns ended, every one handled
	}
	done := make(chan struct{})
	select {
	case l.settle <- done:
	case <-l.ended:
		return nil
	case <-ctx.Done():
		return unsettled(ctx)
	}
	select {
	case <-done:
	case <-l.ended:
	case <-ctx.Done():
		return unsettled(ctx)
	}
	return nil
}

// published is what a publish came to.
type published struct {
	dc  *amqp.DeferredConfirmation
	err error
}

// publish publishes p on ch, and returns by ctx whatever the socket does.
//
// amqp091-go writes to the socket under its channel's and connection's
// locks, and a write to a stalled path blocks (until the stall guard ends
// it, see guardedConn). So while amqp091-go is writing on sock itself (busy),
// the publish goes off the caller's goroutine, and the caller stops waiting
// for it when ctx ends. Otherwise, the common case, the socket is plugged:
// amqp091-go's frames are held and written here after its locks, with the
// calls other callers published meanwhile, or by the caller already writing
// (see plug), with no goroutine to start and wake. If ctx ends while that
// write has moved nothing for stuckAfter, or once it has, the socket is
// closed, which ends the write and the connection, as the stall guard would
// later; a write that moves (a slow path, or the broker's flow control) is
// left to finish, by another goroutine once ctx has ended.
func publish(ctx context.Context, sock *guardedConn, ch *amqp.Channel, exchange, key string, mandatory bool, p amqp.Publishing) (*amqp.DeferredConfirmation, error) {
	done := ctx.Done()
	switch {
	case done == nil || sock == nil:
		dc, err := ch.PublishWithDeferredConfirm(exchange, key, mandatory, false, p)
		return dc, lost(err)
	case sock.busy():
		return publishAside(ctx, ch, exchange, key, mandatory, p)
	}
	var writing atomic.Bool
	writing.Store(true)
	var check func()
	check = func() {
		switch {
		case !writing.Load():
		case sock.stuck(stuckAfter):
			sock.kill()
		case sock.writingNow():
			time.AfterFunc(stuckAfter/5, check) // moving, or not stuck long enough yet
		}
	}
	stop := context.AfterFunc(ctx, check)
	pl := sock.plug() // the system call after amqp091-go's locks, with others' calls
	dc, err := ch.PublishWithDeferredConfirm(exchange, key, mandatory, false, p)
	pl.pullUntil(done)
	writing.Store(false)
	stop()
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("bridge: %w: the call could not be written to the broker in time "+
			"(the network to it is stalled): closed the connection: %w", rabibridge.ErrConnectionLost, ctx.Err())
	}
	return dc, lost(err)
}

// stuckAfter is how long a write must have moved nothing for a caller
// whose ctx ended to close the socket under it: longer than the broker's
// flow control holds a busy publisher.
const stuckAfter = 500 * time.Millisecond

// publishAside publishes off the caller's goroutine.
func publishAside(ctx context.Context, ch *amqp.Channel, exchange, key string, mandatory bool, p amqp.Publishing) (*amqp.DeferredConfirmation, error) {
	out := make(chan published, 1)
	go func() {
		dc, err := ch.PublishWithDeferredConfirm(exchange, key, mandatory, false, p)
		out <- published{dc, err}
	}()
	select {
	case r := <-out:
		return r.dc, lost(r.err)
	case <-ctx.Done():
		return nil, fmt.Errorf("bridge: the call could not be written to the broker in time "+
			"(the network to it is stalled or slow, or it reads slowly): %w", ctx.Err())
	}
}

// unconfirmed is the error of a call the broker did not confirm within its
// ctx, saying why when the transport knows.
func (r *amqpRequester) unconfirmed(err error) error {
	if r.t.blocked.Load() {
		reason := r.t.blockReason()
		return fmt.Errorf("bridge: the broker did not confirm the call in time: %w: it blocks publishing (%s): %w",
			rabibridge.ErrConnectionLost, reason, err)
	}
	return fmt.Errorf("bridge: the broker did not confirm the call in time (it is slow, or the network to it is stalled): %w", err)
}

func (r *amqpRequester) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.stop()
	r.mu.Lock()
	ch, c := r.ch, r.conn
	r.mu.Unlock()
	var err error
	if ch != nil {
		err = r.t.within(c, "closing the caller's channel", func() error {
			if err := ch.Close(); !errors.Is(err, amqp.ErrClosed) {
				return err
			}
			return nil
		})
	}
	<-r.stopped
	return err
}
