package transport

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Keeping messages in queues nobody consumes: dead letters (see the
// worker), and the operations the CLI needs to look at them.

// Put publishes m to queue through the default exchange, persistent and
// confirmed: it returns once the broker has it. With declare, the queue is
// declared first as a store: durable, kept when nobody consumes it, bound
// to nothing. A queue that does not exist is an error, not a silent loss.
func (c *Conn) Put(ctx context.Context, queue string, m Message, declare bool) error {
	return c.t.put(ctx, queue, m, declare)
}

// Browse returns up to max of the messages in queue, oldest first, and
// leaves them there.
func (c *Conn) Browse(ctx context.Context, queue string, max int) ([]Message, error) {
	return c.t.browse(ctx, queue, max)
}

// Take removes up to max messages from queue, oldest first, each once f has
// returned nil for it; the first error of f leaves that message in the queue
// and ends Take. It returns how many it removed.
func (c *Conn) Take(ctx context.Context, queue string, max int, f func(Message) error) (int, error) {
	return c.t.take(ctx, queue, max, f)
}

// Purge removes every message from queue and returns how many there were.
func (c *Conn) Purge(ctx context.Context, queue string) (int, error) { return c.t.purge(ctx, queue) }

// ErrNoQueue is wrapped by the error of an operation on a queue that does
// not exist.
var ErrNoQueue = errors.New("no such queue")

// storeErr is the error of what to queue failed with err.
func storeErr(what, queue string, err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return fmt.Errorf("bridge: %s %s: %w", what, queue, ErrNoQueue)
	}
	return fmt.Errorf("bridge: %s %s: %w", what, queue, lost(err))
}

func (t *amqpTransport) put(ctx context.Context, queue string, m Message, declare bool) error {
	return t.withChannel(ctx, func(ch *amqp.Channel) error {
		if declare {
			if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
				return fmt.Errorf("bridge: declaring queue %s: %w", queue, lost(err))
			}
		}
		if err := ch.Confirm(false); err != nil {
			return fmt.Errorf("bridge: confirms on a channel: %w", lost(err))
		}
		returns := ch.NotifyReturn(make(chan amqp.Return, 1))
		p := publishing(m)
		p.DeliveryMode, p.Expiration = amqp.Persistent, ""
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, p)
		if err != nil {
			return fmt.Errorf("bridge: publishing to %s: %w", queue, lost(err))
		}
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("bridge: publishing to %s: %w", queue, lost(err))
		}
		if !ok {
			return fmt.Errorf("bridge: publishing to %s: the broker refused it", queue)
		}
		select { // a return comes before its confirm
		case <-returns:
			return fmt.Errorf("bridge: publishing to %s: %w", queue, ErrNoQueue)
		default:
			return nil
		}
	})
}

func (t *amqpTransport) browse(ctx context.Context, queue string, max int) ([]Message, error) {
	var out []Message
	err := t.withChannel(ctx, func(ch *amqp.Channel) error {
		// Taken without an ack, given back when the channel closes:
		// classic queues put them back where they were.
		for len(out) < max {
			d, ok, err := ch.Get(queue, false)
			if err != nil {
				return storeErr("reading", queue, err)
			}
			if !ok {
				break
			}
			out = append(out, stored(d))
		}
		return nil
	})
	return out, err
}

func (t *amqpTransport) take(ctx context.Context, queue string, max int, f func(Message) error) (int, error) {
	n := 0
	err := t.withChannel(ctx, func(ch *amqp.Channel) error {
		for n < max && ctx.Err() == nil {
			d, ok, err := ch.Get(queue, false)
			if err != nil {
				return storeErr("reading", queue, err)
			}
			if !ok {
				return nil
			}
			if err := f(stored(d)); err != nil {
				d.Nack(false, true)
				return err
			}
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("bridge: removing a message from %s: %w", queue, lost(err))
			}
			n++
		}
		return ctx.Err()
	})
	return n, err
}

func (t *amqpTransport) purge(ctx context.Context, queue string) (int, error) {
	var n int
	err := t.withChannel(ctx, func(ch *amqp.Channel) error {
		var err error
		if n, err = ch.QueuePurge(queue, false); err != nil {
			return storeErr("purging", queue, err)
		}
		return nil
	})
	return n, err
}

// stored converts a message kept in a queue, its headers all as text.
func stored(d amqp.Delivery) Message {
	m := message(d)
	for k, v := range d.Headers {
		if _, ok := v.(string); ok {
			continue
		}
		if m.Headers == nil {
			m.Headers = map[string]string{}
		}
		m.Headers[k] = fmt.Sprint(v)
	}
	return m
}

func (t *memTransport) put(ctx context.Context, queue string, m Message, declare bool) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	b := t.b
	b.mu.Lock()
	q := b.queues[queue]
	if q == nil && declare {
		q = &memQueue{b: b, q: Queue{Name: queue, Quorum: true}} // kept when nobody consumes it
		b.queues[queue] = q
	}
	b.mu.Unlock()
	if q == nil {
		return fmt.Errorf("bridge: publishing to %s: %w", queue, ErrNoQueue)
	}
	m.Expire = false
	q.mu.Lock()
	q.push(memMsg{m: m})
	q.mu.Unlock()
	q.pump()
	return nil
}

func (t *memTransport) queue(ctx context.Context, name string) (*memQueue, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	t.b.mu.RLock()
	q := t.b.queues[name]
	t.b.mu.RUnlock()
	if q == nil {
		return nil, fmt.Errorf("bridge: queue %s: %w", name, ErrNoQueue)
	}
	return q, nil
}

func (t *memTransport) browse(ctx context.Context, queue string, max int) ([]Message, error) {
	q, err := t.queue(ctx, queue)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Message
	for _, m := range q.ready[q.head:] {
		if len(out) == max {
			break
		}
		out = append(out, m.m)
	}
	return out, nil
}

func (t *memTransport) take(ctx context.Context, queue string, max int, f func(Message) error) (int, error) {
	q, err := t.queue(ctx, queue)
	if err != nil {
		return 0, err
	}
	n := 0
	for n < max && ctx.Err() == nil {
		q.mu.Lock()
		if q.len() == 0 {
			q.mu.Unlock()
			return n, nil
		}
		m := q.pop()
		q.mu.Unlock()
		if err := f(m.m); err != nil {
			q.mu.Lock()
			q.pushFront(m)
			q.mu.Unlock()
			return n, err
		}
		n++
	}
	return n, ctx.Err()
}

func (t *memTransport) purge(ctx context.Context, queue string) (int, error) {
	q, err := t.queue(ctx, queue)
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.len()
	q.ready, q.head = nil, 0
	return n, nil
}
