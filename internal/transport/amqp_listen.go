package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// amqpListener consumes a server-named exclusive queue bound to a fanout
// exchange, attaching again to each new connection.
type amqpListener struct {
	t        *amqpTransport
	exchange string
	h        func(Message)
	ctx      context.Context
	stop     context.CancelFunc
	done     chan struct{}
	once     sync.Once
}

func (t *amqpTransport) listen(ctx context.Context, exchange string, h func(Message)) (Subscription, error) {
	l := &amqpListener{t: t, exchange: exchange, h: h, done: make(chan struct{})}
	l.ctx, l.stop = context.WithCancel(t.ctx)
	first := make(chan error, 1)
	go l.run(ctx, first)
	if err := <-first; err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *amqpListener) run(startCtx context.Context, first chan<- error) {
	defer l.once.Do(func() { close(l.done) })
	attachment{
		t: l.t,
		attach: func(c *amqp.Connection) (channel, error) {
			ch, msgs, err := l.attach(c)
			return channel{ch: ch, in: msgs}, err
		},
		serve: func(at channel) bool {
			// Bounded: a blocked or stalled broker does not answer the close,
			// and the deliveries end only with its answer or the connection.
			stop := context.AfterFunc(l.ctx, func() { l.closeChannel(at) })
			for d := range at.in {
				l.h(message(d))
			}
			stop()
			return l.ctx.Err() == nil
		},
		failed:  func(error) bool { return true },
		abandon: l.closeChannel,
	}.keep(l.ctx, startCtx, first)
}

// closeChannel closes the listener's channel, within closeTimeout.
func (l *amqpListener) closeChannel(at channel) {
	l.t.within(at.conn, "closing the channel listening on "+l.exchange, func() error { return at.ch.Close() })
}

func (l *amqpListener) attach(c *amqp.Connection) (*amqp.Channel, <-chan amqp.Delivery, error) {
	ch, err := c.Channel()
	if err != nil {
		return nil, nil, lost(err)
	}
	fail := func(err error) (*amqp.Channel, <-chan amqp.Delivery, error) {
		ch.Close()
		return nil, nil, fmt.Errorf("bridge: listening on %s: %w", l.exchange, lost(err))
	}
	if err := ch.ExchangeDeclare(l.exchange, "fanout", true, false, false, false, nil); err != nil {
		return fail(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return fail(err)
	}
	if err := ch.QueueBind(q.Name, "", l.exchange, false, nil); err != nil {
		return fail(err)
	}
	msgs, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return fail(err)
	}
	return ch, msgs, nil
}

func (l *amqpListener) Cancel() error { return l.Close() }

func (l *amqpListener) Close() error {
	l.stop()
	<-l.done
	return nil
}

// CancelBy is Cancel.
func (l *amqpListener) CancelBy(time.Time) error { return l.Cancel() }

// CloseBy is Close, each of whose exchanges is bounded by closeTimeout.
func (l *amqpListener) CloseBy(time.Time) error { return l.Close() }

// Abandon does nothing: a listener sends no replies of its own.
func (l *amqpListener) Abandon() {}

func (l *amqpListener) Done() <-chan struct{} { return l.done }

// Attached reports whether the listener goes on: it attaches again by itself.
func (l *amqpListener) Attached() bool { return l.ctx.Err() == nil }

// Wait returns at once: Cancel has waited for h already.
func (l *amqpListener) Wait(context.Context) error { return nil }

// Broadcast publishes m to a fanout exchange, declaring it first so that a
// request with no listener yet is not an error.
func (r *amqpRequester) Broadcast(ctx context.Context, exchange string, m Message) error {
	ch, err := r.channel(ctx)
	if err != nil {
		return err
	}
	if err := r.declared(ch, exchange); err != nil {
		return err
	}
	m.ReplyTo = directReplyTo
	dc, err := publish(ctx, r.sock.Load(), ch, exchange, "", false, publishing(m))
	if err != nil {
		return err
	}
	if _, err := dc.WaitContext(ctx); err != nil {
		return err
	}
	return nil
}

// declared declares a fanout exchange on ch once per channel.
func (r *amqpRequester) declared(ch *amqp.Channel, exchange string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fanouts == nil || r.fanoutsOn != ch {
		r.fanouts, r.fanoutsOn = map[string]bool{}, ch
	}
	if r.fanouts[exchange] {
		return nil
	}
	if err := ch.ExchangeDeclare(exchange, "fanout", true, false, false, false, nil); err != nil {
		if errors.Is(err, amqp.ErrClosed) {
			return lost(err)
		}
		return fmt.Errorf("bridge: declaring %s: %w", exchange, err)
	}
	r.fanouts[exchange] = true
	return nil
}
