// Package benchfloor is the reference echo RPC that rabibridge is measured
// against: written by hand on amqp091-go, with the guarantees rabibridge
// gives (publisher confirms, mandatory publishing, manual ack after the
// reply is published, replies by direct reply-to) and nothing else: no
// encoding, no validation, no per-call goroutine. What rabibridge costs
// beyond it is the price of the library.
package benchfloor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge/internal/protocol"
)

// Topology is where the floor's calls go.
type Topology int

const (
	// RabiBridge's: published to the direct exchange "rpc" with the
	// function's routing key, into a durable auto-delete queue declared
	// with RabiBridge's arguments (x-overflow reject-publish).
	RabiBridge Topology = iota
	// Cheapest: published through the default exchange straight to a
	// non-durable queue with no arguments, the least the broker can do
	// for a call.
	Cheapest
)

// Server is the floor's echo worker.
type Server struct {
	conn     *amqp.Connection
	Exchange string // where callers publish: "rpc", or "" (the default exchange)
	Key      string // the routing key it serves on Exchange
	done     chan struct{}
}

// Serve starts an echo worker on its own connection: one consuming channel
// with prefetch, replies published on a second channel, each call
// acknowledged after its reply.
func Serve(url string, prefetch int, topo Topology) (*Server, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	s := &Server{conn: conn, Exchange: protocol.Exchange, Key: fmt.Sprintf("async_floor%08x", rand.Uint32()), done: make(chan struct{})}
	fail := func(err error) (*Server, error) { conn.Close(); return nil, err }
	in, err := conn.Channel()
	if err != nil {
		return fail(err)
	}
	out, err := conn.Channel()
	if err != nil {
		return fail(err)
	}
	q := "rpc_" + s.Key // RabiBridge's queue name, protocol.QueueName
	switch topo {
	case Cheapest:
		if _, err := in.QueueDeclare(q, false, true, false, false, nil); err != nil {
			return fail(err)
		}
		s.Exchange, s.Key = "", q
	default:
		if err := in.ExchangeDeclare(protocol.Exchange, protocol.ExchangeType, true, false, false, false, nil); err != nil {
			return fail(err)
		}
		if _, err := in.QueueDeclare(q, true, true, false, false, amqp.Table(protocol.QueueArgs(0, 0, false))); err != nil {
			return fail(err)
		}
		if err := in.QueueBind(q, s.Key, protocol.Exchange, false, nil); err != nil {
			return fail(err)
		}
	}
	if err := in.Qos(prefetch, 0, false); err != nil {
		return fail(err)
	}
	ds, err := in.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		return fail(err)
	}
	go func() {
		defer close(s.done)
		for d := range ds {
			err := out.PublishWithContext(context.Background(), "", d.ReplyTo, false, false,
				amqp.Publishing{Body: d.Body, CorrelationId: d.CorrelationId})
			if err != nil {
				return
			}
			_ = d.Ack(false)
		}
	}()
	return s, nil
}

// Close stops the worker.
func (s *Server) Close() error {
	err := s.conn.Close()
	<-s.done
	return err
}

// Client is the floor's caller: one channel in confirm mode that consumes
// direct reply-to.
type Client struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	cid  atomic.Uint64

	mu      sync.Mutex
	pending map[string]chan []byte
}

// Dial opens a client.
func Dial(url string) (*Client, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	var replies <-chan amqp.Delivery
	if err == nil {
		replies, err = ch.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &Client{conn: conn, ch: ch, pending: map[string]chan []byte{}}
	go func() {
		for d := range replies {
			c.mu.Lock()
			p := c.pending[d.CorrelationId]
			delete(c.pending, d.CorrelationId)
			c.mu.Unlock()
			if p != nil {
				p <- d.Body
			}
		}
	}()
	return c, nil
}

// ErrNacked is a call the broker refused.
var ErrNacked = errors.New("benchfloor: nacked")

// Call publishes body to key on exchange and returns the reply's body.
func (c *Client) Call(ctx context.Context, exchange, key string, body []byte) ([]byte, error) {
	cid := strconv.FormatUint(c.cid.Add(1), 10)
	p := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[cid] = p
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, cid)
		c.mu.Unlock()
	}
	dc, err := c.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false,
		amqp.Publishing{Body: body, CorrelationId: cid, ReplyTo: "amq.rabbitmq.reply-to"})
	if err != nil {
		forget()
		return nil, err
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil || !ok {
		forget()
		if err == nil {
			err = ErrNacked
		}
		return nil, err
	}
	select {
	case b := <-p:
		return b, nil
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

// Close closes the client.
func (c *Client) Close() error { return c.conn.Close() }
