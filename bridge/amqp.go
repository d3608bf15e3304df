package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge"
)

// directReplyTo is RabbitMQ's pseudo-queue for replies: consumed with
// no-ack on the channel that publishes the calls, it needs no queue of ours.
const directReplyTo = "amq.rabbitmq.reply-to"

// amqpTransport is the RabbitMQ transport, on one AMQP connection.
type amqpTransport struct {
	conn *amqp.Connection
	log  *slog.Logger
	down chan struct{} // closed when the connection ends

	replyMu sync.Mutex
	replyCh *amqp.Channel // shared by the replies of all consumers

	tags atomic.Uint64
}

func dialAMQP(ctx context.Context, cfg Config, url string, log *slog.Logger) (*amqpTransport, error) {
	tlsCfg, err := cfg.TLS.config(url)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	acfg := amqp.Config{
		Heartbeat:       cfg.Heartbeat,
		TLSClientConfig: tlsCfg,
		Properties: amqp.Table{
			"connection_name": "rabibridge-go " + host + " " + strconv.Itoa(os.Getpid()),
			"product":         "rabibridge-go",
		},
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: 30 * time.Second}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// A deadline for the TLS and AMQP handshakes; amqp091-go clears
			// it once the connection is open.
			deadline := time.Now().Add(30 * time.Second)
			if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
				deadline = dl
			}
			return c, c.SetDeadline(deadline)
		},
	}
	conn, err := amqp.DialConfig(url, acfg)
	if err != nil {
		return nil, fmt.Errorf("bridge: connecting to %s: %w", redactURL(url), err)
	}
	t := &amqpTransport{conn: conn, log: log, down: make(chan struct{})}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	go func() {
		for {
			select {
			case b := <-blocked:
				if b.Active {
					log.Warn("broker blocked the connection", "reason", b.Reason)
				} else {
					log.Info("broker unblocked the connection")
				}
			case err := <-closed:
				if err != nil {
					log.Error("connection lost", "error", err)
				}
				close(t.down)
				for range blocked { // amqp091-go closes it: drain so it never blocks
				}
				return
			}
		}
	}()
	log.Info("connected", "url", redactURL(url))
	return t, nil
}

func (t *amqpTransport) channel() (*amqp.Channel, error) {
	ch, err := t.conn.Channel()
	if err != nil {
		return nil, lost(err)
	}
	return ch, nil
}

// lost maps errors of a dead connection or channel to ErrConnectionLost.
func lost(err error) error {
	if errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("bridge: %w: %w", rabibridge.ErrConnectionLost, err)
	}
	return err
}

func (t *amqpTransport) declare(ctx context.Context, q Queue) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// A channel of its own: a refused declaration closes the channel, and
	// must leave the rest of the connection usable.
	ch, err := t.channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(Exchange, "direct", true, false, false, false, nil); err != nil {
		return fmt.Errorf("bridge: declaring exchange %s: %w", Exchange, lost(err))
	}
	if q.Redeclare {
		if _, err := ch.QueueDelete(q.Name, false, false, false); err != nil {
			return fmt.Errorf("bridge: deleting queue %s: %w", q.Name, lost(err))
		}
	}
	if _, err := ch.QueueDeclare(q.Name, true, true, false, false, amqp.Table(q.Args())); err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
			return &MismatchError{Queue: q.Name, Want: q.Args(), Cause: err}
		}
		return fmt.Errorf("bridge: declaring queue %s: %w", q.Name, lost(err))
	}
	if err := ch.QueueBind(q.Name, q.RoutingKey, Exchange, false, nil); err != nil {
		return fmt.Errorf("bridge: binding queue %s: %w", q.Name, lost(err))
	}
	return nil
}

func (t *amqpTransport) consume(ctx context.Context, queue string, prefetch int, h func(*Delivery)) (Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch, err := t.channel()
	if err != nil {
		return nil, err
	}
	if prefetch > 0 {
		if err := ch.Qos(prefetch, 0, false); err != nil {
			ch.Close()
			return nil, fmt.Errorf("bridge: qos on %s: %w", queue, lost(err))
		}
	}
	s := &amqpSub{ch: ch, tag: "rabibridge-go-" + strconv.FormatUint(t.tags.Add(1), 10), done: make(chan struct{})}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	deliveries, err := ch.Consume(queue, s.tag, false, false, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("bridge: consuming %s: %w", queue, lost(err))
	}
	go func() {
		<-closed // closed, or sent the error, when the channel ends
		close(s.done)
	}()
	go func() {
		for d := range deliveries {
			h(s.delivery(d))
		}
		if !s.cancelled.Load() {
			// The broker cancelled the consumer (its queue was deleted):
			// the subscription is over.
			t.log.Warn("the broker cancelled a consumer", "queue", queue)
			ch.Close()
		}
	}()
	return s, nil
}

type amqpSub struct {
	ch        *amqp.Channel
	tag       string
	cancelled atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
}

func (s *amqpSub) delivery(d amqp.Delivery) *Delivery {
	return &Delivery{Message: message(d), Redelivered: d.Redelivered, acker: s, tag: d.DeliveryTag}
}

func (s *amqpSub) ack(tag uint64) error { return lost(s.ch.Ack(tag, false)) }

func (s *amqpSub) nack(tag uint64, requeue bool) error {
	return lost(s.ch.Nack(tag, false, requeue))
}

func (s *amqpSub) Cancel() error {
	if s.cancelled.Swap(true) {
		return nil
	}
	return lost(s.ch.Cancel(s.tag, false))
}

func (s *amqpSub) Close() error {
	s.Cancel()
	var err error
	s.closeOnce.Do(func() { err = s.ch.Close() })
	if errors.Is(err, amqp.ErrClosed) {
		err = nil
	}
	return err
}

func (s *amqpSub) Done() <-chan struct{} { return s.done }

// message converts a delivery's properties and headers.
func message(d amqp.Delivery) Message {
	m := Message{Body: d.Body, CorrelationID: d.CorrelationId, ReplyTo: d.ReplyTo, ContentType: d.ContentType}
	for k, v := range d.Headers {
		switch v := v.(type) {
		case string:
			if m.Headers == nil {
				m.Headers = make(map[string]string, len(d.Headers))
			}
			m.Headers[k] = v
		case int64:
			if k == HeaderDeadline {
				m.Deadline = time.UnixMilli(v)
			}
		case int32:
			if k == HeaderDeadline {
				m.Deadline = time.UnixMilli(int64(v))
			}
		}
	}
	return m
}

// publishing converts a message for publishing.
func publishing(m Message) amqp.Publishing {
	p := amqp.Publishing{Body: m.Body, CorrelationId: m.CorrelationID, ReplyTo: m.ReplyTo, ContentType: m.ContentType}
	if len(m.Headers) > 0 || !m.Deadline.IsZero() {
		p.Headers = make(amqp.Table, len(m.Headers)+1)
		for k, v := range m.Headers {
			p.Headers[k] = v
		}
	}
	if !m.Deadline.IsZero() {
		p.Headers[HeaderDeadline] = m.Deadline.UnixMilli()
		// The broker drops the call once nobody waits for it.
		p.Expiration = strconv.FormatInt(max(time.Until(m.Deadline).Milliseconds(), 1), 10)
	}
	return p
}

func (t *amqpTransport) reply(ctx context.Context, m Message) error {
	for attempt := 0; ; attempt++ {
		ch, err := t.replyChannel()
		if err != nil {
			return err
		}
		err = ch.PublishWithContext(ctx, "", m.ReplyTo, false, false, publishing(m))
		if err == nil || !errors.Is(err, amqp.ErrClosed) || attempt > 0 {
			return lost(err)
		}
		t.replyMu.Lock() // the channel died: open another, once
		if t.replyCh == ch {
			t.replyCh = nil
		}
		t.replyMu.Unlock()
	}
}

func (t *amqpTransport) replyChannel() (*amqp.Channel, error) {
	t.replyMu.Lock()
	defer t.replyMu.Unlock()
	if t.replyCh != nil && !t.replyCh.IsClosed() {
		return t.replyCh, nil
	}
	ch, err := t.channel()
	if err != nil {
		return nil, err
	}
	t.replyCh = ch
	return ch, nil
}

// amqpRequester publishes calls on a channel in confirm mode that also
// consumes the direct reply-to pseudo-queue.
type amqpRequester struct {
	ch     *amqp.Channel
	closed atomic.Bool
}

func (t *amqpTransport) requester(h ReplyHandler) (Requester, error) {
	ch, err := t.channel()
	if err != nil {
		return nil, err
	}
	// Callers declare the exchange too, as RabiBridge's do: a publish to a
	// missing exchange would close the channel.
	if err := ch.ExchangeDeclare(Exchange, "direct", true, false, false, false, nil); err != nil {
		ch.Close()
		return nil, fmt.Errorf("bridge: declaring exchange %s: %w", Exchange, lost(err))
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("bridge: confirm mode: %w", lost(err))
	}
	r := &amqpRequester{ch: ch}
	returns := ch.NotifyReturn(make(chan amqp.Return, 64))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	replies, err := ch.Consume(directReplyTo, "", true, false, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("bridge: consuming %s: %w", directReplyTo, lost(err))
	}
	go func() {
		for d := range replies {
			m := message(d)
			h.Reply(&m)
		}
	}()
	go func() {
		// A call nobody consumes comes back (mandatory) before its
		// confirm; the caller fails it with ErrNoSuchFunction.
		for ret := range returns {
			h.Returned(ret.CorrelationId)
		}
	}()
	go func() {
		err, _ := <-closed
		if r.closed.Load() {
			return
		}
		if err != nil {
			h.Lost(err)
		} else {
			h.Lost(errClosed)
		}
	}()
	return r, nil
}

func (r *amqpRequester) ReplyTo() string { return directReplyTo }

func (r *amqpRequester) Publish(ctx context.Context, key string, m Message) error {
	m.ReplyTo = directReplyTo
	dc, err := r.ch.PublishWithDeferredConfirmWithContext(ctx, Exchange, key, true, false, publishing(m))
	if err != nil {
		return lost(err)
	}
	ok, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return err
	case !ok: // x-overflow reject-publish: the queue is full
		return rabibridge.ErrQueueFull
	}
	return nil
}

func (r *amqpRequester) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	err := r.ch.Close()
	if errors.Is(err, amqp.ErrClosed) {
		return nil
	}
	return err
}

func (t *amqpTransport) close() error {
	err := t.conn.Close()
	if errors.Is(err, amqp.ErrClosed) {
		return nil
	}
	return err
}
