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
)

// amqpSub is a consumer of one queue. It re-attaches itself to each new
// connection, on a new channel, until it is closed or the broker cancels it
// (its queue was deleted).
type amqpSub struct {
	t     *amqpTransport
	queue string
	opts  ConsumeOptions
	h     func(*Delivery)
	live  live // its handler goroutines
	tag   string

	ctx  context.Context // ends on Cancel
	stop context.CancelFunc

	mu   sync.Mutex
	ch   *amqp.Channel    // the current channel, nil between attachments
	conn *amqp.Connection // ch's

	stopped   chan struct{} // closed when the attach loop has ended
	done      chan struct{} // closed when the subscription is over
	closeOnce sync.Once

	// Replies and acknowledgements go out under sendMu, from the handler's
	// goroutine: a reply without a hand-over; while calls come close
	// together (ackBusy), its ack is owed and sent with others in one
	// multiple-ack frame, when ackBatch(Prefetch) are owed or ackDelay
	// after the first.
	sendMu     sync.Mutex
	sendCtx    context.Context    // replies wait on it, for a connection or an unblock
	abandon    context.CancelFunc // ends sendCtx: Abandon, Close
	replies    replier            // the subscription's reply channel
	acks       acks
	flushT     *time.Timer
	lastSettle time.Time
	closed     bool // nothing goes out any more

	sock atomic.Pointer[guardedConn] // the socket of the current channel's connection
}

// ackDelay bounds how long an acknowledgement waits for others to share its
// frame. The caller has its reply already; the wait only holds a prefetch
// place a moment longer.
const ackDelay = time.Millisecond

// ackBusy: calls settled closer together than this are a busy
// subscription, whose acknowledgements wait to share a frame; a quieter one
// acknowledges each call at once, as waiting would cost a timer's wake-up
// per call and save nothing.
const ackBusy = 200 * time.Microsecond

// outgoing is what a delivery is owed: a reply to publish (when m.ReplyTo is
// set) and then an acknowledgement, or to be given back.
type outgoing struct {
	m       Message
	tag     uint64
	on      chAcker
	nack    bool // give the delivery back instead of acknowledging it
	requeue bool
}

// chAcker settles deliveries on the channel that delivered them (a tag means
// nothing on another channel), through the subscription: every
// acknowledgement goes through it, so it can cover several with one frame.
type chAcker struct {
	s  *amqpSub
	ch *amqp.Channel
}

func (a chAcker) ack(tag uint64) error { return a.s.settle(outgoing{tag: tag, on: a}) }
func (a chAcker) nack(tag uint64, requeue bool) error {
	return a.s.settle(outgoing{tag: tag, on: a, nack: true, requeue: requeue})
}
func (a chAcker) reply(d *Delivery, m Message) error {
	return a.s.settle(outgoing{m: m, tag: d.tag, on: a})
}

// settle publishes o's reply, if any, and records or sends what o's call is
// owed.
func (s *amqpSub) settle(o outgoing) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.closed {
		return errClosed
	}
	p := s.plug(o)
	defer p.pull()
	err := s.sendOne(&s.acks, o, &p)
	now := time.Now()
	busy := now.Sub(s.lastSettle) < ackBusy
	s.lastSettle = now
	switch n := len(s.acks.owed); {
	case n == 0:
	case !busy || n >= ackBatch(s.opts.Prefetch):
		s.flushT.Stop()
		s.acks.flush()
	case n == 1:
		s.flushT.Reset(ackDelay)
	}
	return err
}

// plug plugs the socket of o's channel when o's reply can go out at once
// (on a live reply channel, to a broker that does not block publishing), so
// that the reply and the acknowledgement sendOne and settle may send after
// it go out in one write: per call, a system call less here, and a read
// less for the broker. The zero plug when it cannot.
func (s *amqpSub) plug(o outgoing) plug {
	sock := s.sock.Load()
	if sock == nil || o.m.ReplyTo == "" || o.nack || s.replies.live.Load() == nil || s.t.blocked.Load() {
		return plug{}
	}
	return sock.plug()
}

// flushNow sends the owed acknowledgements (ackDelay after the first).
func (s *amqpSub) flushNow() {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if !s.closed && len(s.acks.owed) > 0 {
		s.flushT.Stop()
		s.acks.flush()
	}
}

// sendOne publishes o's reply, if any, and records what o's call is owed;
// sendMu is held. It pulls p before anything that may wait for the broker.
func (s *amqpSub) sendOne(a *acks, o outgoing, p *plug) error {
	if s.sendCtx.Err() != nil {
		return errAbandoned // nothing is sent, not even an ack: the call goes back to its queue
	}
	if o.on.ch.IsClosed() {
		// The channel that delivered the call is gone. The broker puts the
		// call back, unless its queue went too (an auto-delete queue that
		// lost its last consumer, a deleted queue): while the connection is
		// up, the reply goes out anyway, on the reply channel, and a caller
		// that gets a second one from the call's next worker drops it.
		// Without a connection it is not waited for: the broker put the
		// call back when the connection died, and waiting here would hold
		// up this subscription's other replies. There is nothing to
		// acknowledge.
		if o.m.ReplyTo == "" || s.t.live.Load() == nil {
			return nil
		}
		p.pull()
		ctx, cancel := context.WithTimeout(s.sendCtx, time.Second)
		defer cancel()
		if err := s.replies.publish(ctx, o.m, nil); err != nil {
			return fmt.Errorf("bridge: publishing a reply after the call's channel closed: %w", err)
		}
		return nil
	}
	if a.ch != o.on.ch {
		a.flush() // the old channel's, if it still takes them
		*a = acks{ch: o.on.ch, low: 1}
	}
	var err error
	if o.m.ReplyTo != "" {
		if err = s.replies.publish(s.sendCtx, o.m, p); err != nil {
			if s.sendCtx.Err() != nil {
				return errAbandoned // no nack either: a blocked connection takes no frame
			}
			err = fmt.Errorf("bridge: publishing a reply (the call goes back to its queue): %w", err)
			o.nack, o.requeue = true, true
		}
	}
	if o.nack {
		// Rare: sent at once, so that it precedes any multiple ack over it.
		_ = a.ch.Nack(o.tag, false, o.requeue) // fails only on a dead channel: the broker requeues the call
		a.settle(o.tag)
		return err
	}
	a.owed = append(a.owed, o.tag)
	return nil
}

// tagAcker is what of a channel settles deliveries.
type tagAcker interface {
	Ack(tag uint64, multiple bool) error
	Nack(tag uint64, multiple, requeue bool) error
}

// acks tracks the settled delivery tags of one channel. The broker numbers
// a channel's deliveries 1, 2, 3…; every tag below low is settled, and
// settled holds the settled tags above low.
type acks struct {
	ch      tagAcker
	low     uint64
	settled map[uint64]struct{}
	owed    []uint64 // tags whose replies are out, not yet acknowledged
}

func (a *acks) settle(tag uint64) {
	if tag != a.low {
		if a.settled == nil {
			a.settled = make(map[uint64]struct{})
		}
		a.settled[tag] = struct{}{}
		return
	}
	a.low++
	for len(a.settled) > 0 {
		if _, ok := a.settled[a.low]; !ok {
			break
		}
		delete(a.settled, a.low)
		a.low++
	}
}

// flush acknowledges the owed tags: those now below low with one multiple
// ack, the others singly. The multiple ack names the highest owed tag below
// low, which the broker still holds (it refuses a multiple ack naming a tag
// it no longer holds unless a higher one is held); every tag below it is
// settled: owed now, or acknowledged or given back earlier, which the
// broker no longer holds and so does not count again.
func (a *acks) flush() {
	if len(a.owed) == 0 {
		return
	}
	for _, t := range a.owed {
		a.settle(t)
	}
	var upTo uint64 // the multiple ack's tag; 0: none
	for _, t := range a.owed {
		switch {
		case t >= a.low:
			_ = a.ch.Ack(t, false) // fails only on a dead channel: the broker requeues the call
		case t > upTo:
			upTo = t
		}
	}
	if upTo > 0 {
		_ = a.ch.Ack(upTo, true)
	}
	a.owed = a.owed[:0]
}

func (t *amqpTransport) consume(ctx context.Context, queue string, o ConsumeOptions, h func(*Delivery)) (Subscription, error) {
	t.readUpTo(bodyLimit(o.MaxBodySize))
	s := &amqpSub{
		t: t, queue: queue, opts: o, h: h, replies: replier{t: t},
		tag:     "rabibridge-go-" + strconv.FormatUint(t.tags.Add(1), 10),
		stopped: make(chan struct{}), done: make(chan struct{}),
	}
	s.flushT = time.AfterFunc(time.Hour, s.flushNow)
	s.flushT.Stop()
	s.ctx, s.stop = context.WithCancel(t.ctx)
	s.sendCtx, s.abandon = context.WithCancel(t.ctx)
	first := make(chan error, 1)
	go s.run(ctx, first)
	select {
	case err := <-first:
		if err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	case <-ctx.Done():
		s.Close()
		return nil, ctx.Err()
	}
}

// run attaches, consumes until the channel ends, and attaches again.
func (s *amqpSub) run(startCtx context.Context, first chan<- error) {
	defer close(s.stopped)
	attachment{
		t:      s.t,
		attach: s.attach,
		serve:  s.consume,
		failed: func(err error) bool {
			var ae *amqp.Error
			if errors.As(err, &ae) && ae.Code == amqp.NotFound {
				s.t.log.Error("consumer ends: its queue is gone", "queue", s.queue, "error", err)
				s.end()
				return false
			}
			s.t.log.Warn("consumer cannot attach; retrying", "queue", s.queue, "error", err)
			return true
		},
	}.keep(s.ctx, startCtx, first)
}

// consume serves the deliveries of at until its channel ends, and says
// whether to attach again. A subscription cancelled leaves the channel
// open for the acknowledgements in flight.
func (s *amqpSub) consume(at channel) bool {
	acker := chAcker{s, at.ch}
	ended := make(chan struct{})
	serve(s.opts, &s.live, s.h, source[amqp.Delivery]{
		ch:     at.in,
		direct: at.direct,
		// A delivery of a channel that closed goes back to the queue:
		// served, it would run twice.
		keep: func() bool { return !at.ch.IsClosed() },
		conv: func(d amqp.Delivery) *Delivery {
			out := &Delivery{Message: message(d), Redelivered: d.Redelivered, acker: acker, tag: d.DeliveryTag}
			if out.CorrelationID != d.CorrelationId {
				out.wireID = d.CorrelationId
			}
			return out
		},
		ended: func() { close(ended) },
	})
	<-ended
	if sock := s.sock.Load(); sock != nil && at.direct != nil {
		sock.deliver.remove(s.tag, at.direct)
	}
	if s.ctx.Err() != nil {
		return false // cancelled: the channel stays open for the acks in flight
	}
	if !at.ch.IsClosed() {
		// The broker cancelled the consumer: its queue was deleted.
		at.ch.Close()
		s.t.mu.Lock()
		_, known := s.t.queues[s.queue]
		s.t.mu.Unlock()
		if !known {
			s.t.log.Warn("the broker cancelled a consumer: its queue is gone", "queue", s.queue)
			s.end()
			return false
		}
		// Ours: declare it again (attach does) and serve on.
		s.t.log.Warn("the broker cancelled a consumer: its queue was deleted; declaring it again", "queue", s.queue)
		return true
	}
	s.t.log.Warn("consumer's channel closed; attaching again", "queue", s.queue)
	return true
}

// attach opens a channel on c and consumes the queue on it, declaring the
// queue first when this transport declared it (an auto-delete queue is gone
// once its last consumer's connection died).
func (s *amqpSub) attach(c *amqp.Connection) (channel, error) {
	ch, err := c.Channel()
	if err != nil {
		return channel{}, lost(err)
	}
	s.t.mu.Lock()
	q, known := s.t.queues[s.queue]
	s.t.mu.Unlock()
	if known {
		var me *MismatchError
		if err := declareOn(ch, q); errors.As(err, &me) {
			// Declared anew by someone else: consume it as it is.
			if ch, err = c.Channel(); err != nil {
				return channel{}, lost(err)
			}
		} else if err != nil {
			ch.Close()
			return channel{}, err
		}
	}
	if s.opts.Prefetch > 0 {
		if err := ch.Qos(s.opts.Prefetch, 0, false); err != nil {
			ch.Close()
			return channel{}, fmt.Errorf("bridge: qos on %s: %w", s.queue, lost(err))
		}
	}
	// With a prefetch, the broker delivers at most that many calls not yet
	// acknowledged, so a channel of that size takes them without waiting.
	sock := s.t.sockOf(c)
	var direct chan amqp.Delivery
	if sock != nil && s.opts.Prefetch > 0 {
		direct = make(chan amqp.Delivery, s.opts.Prefetch)
		sock.deliver.add(s.tag, direct)
	}
	deliveries, err := ch.Consume(s.queue, s.tag, false, false, false, false, nil)
	if err != nil {
		if direct != nil {
			sock.deliver.remove(s.tag, direct)
		}
		ch.Close()
		return channel{}, fmt.Errorf("bridge: consuming %s: %w", s.queue, lost(err))
	}
	s.mu.Lock()
	s.ch, s.conn = ch, c
	s.mu.Unlock()
	s.sock.Store(sock)
	if s.ctx.Err() != nil { // cancelled meanwhile
		ch.Cancel(s.tag, false)
	}
	return channel{ch: ch, in: deliveries, direct: direct}, nil
}

// end marks the subscription over from the inside (its queue is gone).
func (s *amqpSub) end() {
	s.closeOnce.Do(func() { close(s.done) })
}

// errAbandoned is the error of a reply given up by Abandon or Close.
var errAbandoned = errors.New("bridge: reply abandoned: the consumer stopped before it could go out (the call goes back to its queue)")

// Abandon gives up the replies waiting to go out, and those to come: they
// fail at once, and their calls are left unacknowledged, for the broker to
// give back once the channel closes.
func (s *amqpSub) Abandon() { s.abandon() }

// Cancel stops deliveries and waits until no further delivery can reach h.
func (s *amqpSub) Cancel() error { return s.CancelBy(time.Time{}) }

// CancelBy is Cancel, which returns by the time by (zero: no bound but
// closeTimeout on the exchange with the broker). Deliveries taken before
// the broker confirmed the cancel may still be waiting for a handler
// then: they reach h, or go back to the queue with the channel.
func (s *amqpSub) CancelBy(by time.Time) error { return s.cancelBy(by) }

func (s *amqpSub) cancelBy(by time.Time) error {
	s.stop()
	s.mu.Lock()
	ch, c := s.ch, s.conn
	s.mu.Unlock()
	var err error
	if ch != nil {
		err = s.t.withinBy(c, "cancelling the consumer of "+s.queue, by, func() error {
			if err := ch.Cancel(s.tag, false); !errors.Is(err, amqp.ErrClosed) {
				return err
			}
			return nil // the channel is gone, and its deliveries with it
		})
	}
	if by.IsZero() {
		<-s.stopped
		return err
	}
	// The loop stops once a handler goroutine finds the deliveries ended;
	// while all are busy (their replies wait on a blocked connection) that
	// is after by.
	t := time.NewTimer(time.Until(by))
	defer t.Stop()
	select {
	case <-s.stopped:
	case <-t.C:
	}
	return err
}

// Close abandons the replies not yet out, cancels, sends the
// acknowledgements owed, and closes the channel: the broker requeues what
// was delivered and not acknowledged. Replies of handlers still running
// fail from then on.
func (s *amqpSub) Close() error { return s.CloseBy(time.Time{}) }

// CloseBy is Close, whose exchanges with the broker end by the time by
// (zero: closeTimeout each): one the broker does not answer by then (it
// blocks the connection, the path to it is stalled) closes the connection.
func (s *amqpSub) CloseBy(by time.Time) error {
	s.abandon() // first: a reply waiting on a blocked connection holds sendMu
	err := s.cancelBy(by)
	s.sendMu.Lock()
	closing := !s.closed
	if closing {
		s.closed = true
		s.flushT.Stop()
		s.acks.flush()
	}
	s.sendMu.Unlock()
	if closing {
		s.replies.closeBy(by)
	}
	s.closeOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	ch, c := s.ch, s.conn
	s.ch = nil
	s.mu.Unlock()
	if ch != nil {
		cerr := s.t.withinBy(c, "closing the channel of "+s.queue, by, func() error {
			if err := ch.Close(); !errors.Is(err, amqp.ErrClosed) {
				return err
			}
			return nil
		})
		if err == nil {
			err = cerr
		}
	}
	return err
}

func (s *amqpSub) Done() <-chan struct{} { return s.done }

func (s *amqpSub) Attached() bool {
	select {
	case <-s.done:
		return false
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch != nil && !s.ch.IsClosed() && s.ctx.Err() == nil
}

func (s *amqpSub) Wait(ctx context.Context) error { return s.live.wait(ctx) }

// ackBatch is how many acknowledgements may be owed before they go out: a
// quarter of the prefetch, so that most of it stays open for deliveries.
func ackBatch(prefetch int) int {
	if prefetch <= 0 {
		return 64
	}
	return max(prefetch/4, 1)
}
