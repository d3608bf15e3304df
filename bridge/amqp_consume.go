package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// amqpSub is a consumer of one queue. It re-attaches itself to each new
// connection, on a new channel, until it is closed or the broker cancels it
// (its queue was deleted).
type amqpSub struct {
	t        *amqpTransport
	queue    string
	prefetch int
	h        func(*Delivery)
	tag      string

	ctx  context.Context // ends on Cancel
	stop context.CancelFunc

	mu sync.Mutex
	ch *amqp.Channel // the current channel, nil between attachments

	stopped   chan struct{} // closed when the attach loop has ended
	done      chan struct{} // closed when the subscription is over
	closeOnce sync.Once

	outbox  chan outgoing  // replies and acks, in order, for the sender
	pending sync.WaitGroup // items in the outbox and being sent
	quit    chan struct{}  // ends the sender

	replyCh *amqp.Channel // the subscription's reply channel, the sender's own
}

// outgoing is a reply to publish and the call to acknowledge after it.
type outgoing struct {
	m  Message
	d  *Delivery
	on chAcker
}

// chAcker acknowledges deliveries on the channel that delivered them: a tag
// means nothing on another channel.
type chAcker struct {
	s  *amqpSub
	ch *amqp.Channel
}

func (a chAcker) ack(tag uint64) error { return lost(a.ch.Ack(tag, false)) }
func (a chAcker) nack(tag uint64, requeue bool) error {
	return lost(a.ch.Nack(tag, false, requeue))
}

func (a chAcker) reply(d *Delivery, m Message) error {
	select {
	case <-a.s.quit:
		return errClosed
	default:
	}
	a.s.pending.Add(1)
	a.s.outbox <- outgoing{m, d, a}
	return nil
}

// send publishes the queued replies, each followed by its ack, from one
// goroutine and on a reply channel of the subscription's own.
func (s *amqpSub) send() {
	for {
		var o outgoing
		select {
		case o = <-s.outbox:
		case <-s.quit:
			return
		}
		s.sendOne(o)
		s.pending.Done()
	}
}

// sendOne publishes a reply and then acknowledges its call.
func (s *amqpSub) sendOne(o outgoing) {
	if o.on.ch.IsClosed() {
		// The channel that delivered the call is gone, and the broker has
		// put the call back: its next worker answers it. Waiting here for a
		// reconnection would only hold up a drain.
		return
	}
	if err := s.publishReply(&s.replyCh, o.m); err != nil {
		s.t.log.Warn("publishing a reply; the call goes back to its queue", "queue", s.queue, "correlation_id", o.m.CorrelationID, "error", err)
		_ = o.on.nack(o.d.tag, true) // on a dead channel the broker requeues it anyway
		return
	}
	_ = o.on.ack(o.d.tag) // fails only on a dead channel: the broker requeues the call
}

func (s *amqpSub) publishReply(replyCh **amqp.Channel, m Message) error {
	ctx, cancel := context.WithTimeout(s.t.ctx, 10*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if err := s.t.waitUnblocked(ctx); err != nil {
			return err
		}
		if *replyCh == nil || (*replyCh).IsClosed() {
			c, err := s.t.current(ctx)
			if err != nil {
				return err
			}
			ch, err := c.Channel()
			if err != nil {
				return lost(err)
			}
			*replyCh = ch
		}
		err := (*replyCh).PublishWithContext(ctx, "", m.ReplyTo, false, false, publishing(m))
		if err == nil || !errors.Is(err, amqp.ErrClosed) || attempt > 0 {
			return lost(err)
		}
	}
}

func (t *amqpTransport) consume(ctx context.Context, queue string, prefetch int, h func(*Delivery)) (Subscription, error) {
	s := &amqpSub{
		t: t, queue: queue, prefetch: prefetch, h: h,
		tag:     "rabibridge-go-" + strconv.FormatUint(t.tags.Add(1), 10),
		stopped: make(chan struct{}), done: make(chan struct{}),
		outbox: make(chan outgoing, max(prefetch, 64)), quit: make(chan struct{}),
	}
	s.ctx, s.stop = context.WithCancel(t.ctx)
	go s.send()
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
	b := newBackoff(s.t.cfg.ReconnectMin, s.t.cfg.ReconnectMax)
	for attempt := 0; ; attempt++ {
		waitCtx := s.ctx
		if first != nil {
			waitCtx = startCtx // the first attachment is bounded by Consume's ctx
		}
		c, err := s.t.current(waitCtx)
		var ch *amqp.Channel
		var deliveries <-chan amqp.Delivery
		if err == nil {
			ch, deliveries, err = s.attach(c)
		}
		if first != nil {
			first <- err
			first = nil
			if err != nil {
				return
			}
		}
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			var ae *amqp.Error
			if errors.As(err, &ae) && ae.Code == amqp.NotFound {
				s.t.log.Error("consumer ends: its queue is gone", "queue", s.queue, "error", err)
				s.end()
				return
			}
			s.t.log.Warn("consumer cannot attach; retrying", "queue", s.queue, "error", err)
			sleep(s.ctx, b.wait())
			continue
		}
		b.reset()
		acker := chAcker{s, ch}
		for d := range deliveries {
			s.h(&Delivery{Message: message(d), Redelivered: d.Redelivered, acker: acker, tag: d.DeliveryTag})
		}
		if s.ctx.Err() != nil {
			return // cancelled: the channel stays open for the acks in flight
		}
		if !ch.IsClosed() {
			// The broker cancelled the consumer: its queue was deleted.
			s.t.log.Warn("the broker cancelled a consumer", "queue", s.queue)
			ch.Close()
			s.end()
			return
		}
		s.t.log.Warn("consumer's channel closed; attaching again", "queue", s.queue)
	}
}

// attach opens a channel on c and consumes the queue on it, declaring the
// queue first when this transport declared it (an auto-delete queue is gone
// once its last consumer's connection died).
func (s *amqpSub) attach(c *amqp.Connection) (*amqp.Channel, <-chan amqp.Delivery, error) {
	ch, err := c.Channel()
	if err != nil {
		return nil, nil, lost(err)
	}
	s.t.mu.Lock()
	q, known := s.t.queues[s.queue]
	s.t.mu.Unlock()
	if known {
		var me *MismatchError
		if err := declareOn(ch, q); errors.As(err, &me) {
			// Declared anew by someone else: consume it as it is.
			if ch, err = c.Channel(); err != nil {
				return nil, nil, lost(err)
			}
		} else if err != nil {
			ch.Close()
			return nil, nil, err
		}
	}
	if s.prefetch > 0 {
		if err := ch.Qos(s.prefetch, 0, false); err != nil {
			ch.Close()
			return nil, nil, fmt.Errorf("bridge: qos on %s: %w", s.queue, lost(err))
		}
	}
	deliveries, err := ch.Consume(s.queue, s.tag, false, false, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("bridge: consuming %s: %w", s.queue, lost(err))
	}
	s.mu.Lock()
	s.ch = ch
	s.mu.Unlock()
	if s.ctx.Err() != nil { // cancelled meanwhile
		ch.Cancel(s.tag, false)
	}
	return ch, deliveries, nil
}

// end marks the subscription over from the inside (its queue is gone): the
// sender stops once what is queued is sent.
func (s *amqpSub) end() {
	s.closeOnce.Do(func() {
		go func() {
			s.pending.Wait()
			close(s.quit)
		}()
		close(s.done)
	})
}

// Cancel stops deliveries and waits until no delivery is being handed to h.
func (s *amqpSub) Cancel() error {
	s.stop()
	s.mu.Lock()
	ch := s.ch
	s.mu.Unlock()
	var err error
	if ch != nil {
		err = ch.Cancel(s.tag, false)
		if errors.Is(err, amqp.ErrClosed) {
			err = nil // the channel is gone, and its deliveries with it
		}
	}
	<-s.stopped
	return err
}

// Close cancels, publishes the replies queued so far (each followed by its
// ack), and closes the channel: the broker requeues what was delivered and
// not acknowledged.
func (s *amqpSub) Close() error {
	err := s.Cancel()
	s.closeOnce.Do(func() {
		s.pending.Wait()
		close(s.quit)
		close(s.done)
	})
	s.mu.Lock()
	ch := s.ch
	s.ch = nil
	s.mu.Unlock()
	if ch != nil {
		if cerr := ch.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) && err == nil {
			err = cerr
		}
	}
	return err
}

func (s *amqpSub) Done() <-chan struct{} { return s.done }
