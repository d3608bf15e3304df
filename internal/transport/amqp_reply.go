package transport

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// replier publishes replies on a channel of its own, opened on the current
// connection when it has none that works, and tries once more on a fresh
// one when it finds it closed. The transport has one for replies that come
// from no subscription (discovery's answers); each subscription has one.
type replier struct {
	t    *amqpTransport
	mu   sync.Mutex
	ch   *amqp.Channel
	conn *amqp.Connection             // ch's
	live atomic.Pointer[amqp.Channel] // ch while it is usable: the lock-free fast path
}

// replyWait bounds how long a reply waits for a connection, or for the
// broker to unblock one.
const replyWait = 10 * time.Second

// publish publishes the reply m, pulling p (when not nil) before it waits
// for anything: a channel, an unblocked connection.
func (r *replier) publish(ctx context.Context, m Message, p *plug) error {
	if ch := r.live.Load(); ch != nil && !r.t.blocked.Load() {
		// The common case, without a context of its own: amqp091-go does
		// not block on a publish (flow control is the blocked check).
		err := ch.PublishWithContext(ctx, "", m.ReplyTo, false, false, replyPublishing(m))
		if err == nil || !errors.Is(err, amqp.ErrClosed) {
			return lost(err)
		}
	}
	if p != nil {
		p.pull()
	}
	ctx, cancel := context.WithTimeout(ctx, replyWait)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if err := r.t.waitUnblocked(ctx); err != nil {
			return err
		}
		ch, err := r.channel(ctx)
		if err != nil {
			return err
		}
		err = ch.PublishWithContext(ctx, "", m.ReplyTo, false, false, replyPublishing(m))
		if err == nil || !errors.Is(err, amqp.ErrClosed) || attempt > 0 {
			return lost(err)
		}
	}
}

// replyPublishing is the reply m as published: to m.ReplyTo, which it does
// not carry itself (a reply is answered by nobody; the address is long, and
// the broker would parse and copy it with every reply).
func replyPublishing(m Message) amqp.Publishing {
	p := publishing(m)
	p.ReplyTo = ""
	return p
}

// channel returns a usable channel on the current connection, waiting up
// to ctx for one.
func (r *replier) channel(ctx context.Context) (*amqp.Channel, error) {
	c, err := r.t.current(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ch != nil && r.conn == c && !r.ch.IsClosed() {
		return r.ch, nil
	}
	ch, err := c.Channel()
	if err != nil {
		return nil, lost(err)
	}
	r.ch, r.conn = ch, c
	r.live.Store(ch)
	return ch, nil
}

// closeBy closes the channel, its exchange with the broker ending by the
// time by (see withinBy); a later publish opens another.
func (r *replier) closeBy(by time.Time) {
	r.mu.Lock()
	ch, c := r.ch, r.conn
	r.ch, r.conn = nil, nil
	r.live.Store(nil)
	r.mu.Unlock()
	if ch != nil {
		r.t.withinBy(c, "closing a reply channel", by, func() error { return ch.Close() })
	}
}
