package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

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
}

// chAcker acknowledges deliveries on the channel that delivered them: a tag
// means nothing on another channel.
type chAcker struct{ ch *amqp.Channel }

func (a chAcker) ack(tag uint64) error { return lost(a.ch.Ack(tag, false)) }
func (a chAcker) nack(tag uint64, requeue bool) error {
	return lost(a.ch.Nack(tag, false, requeue))
}

func (t *amqpTransport) consume(ctx context.Context, queue string, prefetch int, h func(*Delivery)) (Subscription, error) {
	s := &amqpSub{
		t: t, queue: queue, prefetch: prefetch, h: h,
		tag:     "rabibridge-go-" + strconv.FormatUint(t.tags.Add(1), 10),
		stopped: make(chan struct{}), done: make(chan struct{}),
	}
	s.ctx, s.stop = context.WithCancel(t.ctx)
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
		acker := chAcker{ch}
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

func (s *amqpSub) end() { s.closeOnce.Do(func() { close(s.done) }) }

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

// Close cancels and closes the channel: the broker requeues what was
// delivered and not acknowledged.
func (s *amqpSub) Close() error {
	err := s.Cancel()
	s.mu.Lock()
	ch := s.ch
	s.ch = nil
	s.mu.Unlock()
	if ch != nil {
		if cerr := ch.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) && err == nil {
			err = cerr
		}
	}
	s.end()
	return err
}

func (s *amqpSub) Done() <-chan struct{} { return s.done }
