package transport

import (
	"context"
	"errors"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge/internal/backoff"
	"github.com/rabibridge/rabibridge/internal/pause"
)

// The states of a connection, as bridge.State names them (its doc says
// what each means).
const (
	StateConnected    = "connected"
	StateDisconnected = "disconnected"
	StateReconnecting = "reconnecting"
	StateClosed       = "closed"
)

// Defaults of the reconnection backoff.
const (
	DefaultReconnectMin = 100 * time.Millisecond
	// A wait after a long outage is between 1 and 2 s: a worker serves
	// again within about 2.5 s of the broker's return, and a fleet's
	// reconnections spread over a second, not one burst.
	DefaultReconnectMax = 2 * time.Second
)

func (t *amqpTransport) state(s string, err error) {
	switch {
	case err != nil:
		t.log.Warn("connection "+string(s), "error", err)
	case s == StateConnected:
		t.mu.Lock()
		at := t.at
		t.mu.Unlock()
		t.log.Info("connection "+string(s), "url", at)
	default:
		t.log.Info("connection " + string(s))
	}
	if t.cfg.OnStateChange != nil {
		t.cfg.OnStateChange(s, err)
	}
}

// newBackoff returns the reconnection backoff from min to max, defaults
// for zero.
func newBackoff(min, max time.Duration) *backoff.Backoff {
	if min <= 0 {
		min = DefaultReconnectMin
	}
	if max < min {
		max = DefaultReconnectMax
	}
	return backoff.New(min, max)
}

// watch follows connection c until it ends, then reconnects. It reads every
// notification amqp091-go hands out, so none of its goroutines can block on
// us.
func (t *amqpTransport) watch(c *amqp.Connection) {
	closes := c.NotifyClose(make(chan *amqp.Error, 1))
	blocks := c.NotifyBlocked(make(chan amqp.Blocking, 4))
	var cause error
	for closes != nil {
		select {
		case b, ok := <-blocks:
			if !ok {
				blocks = nil
				continue
			}
			t.setBlocked(c, b)
		case err, ok := <-closes:
			if ok && err != nil {
				cause = err
			}
			closes = nil
		}
	}
	t.mu.Lock()
	if t.conn == c {
		t.conn = nil
		t.live.Store(nil)
		t.up = make(chan struct{})
	}
	delete(t.socks, c)
	t.mu.Unlock()
	if t.ctx.Err() != nil {
		return // closed by us
	}
	if cause == nil {
		cause = errors.New("connection closed")
	}
	t.state(StateDisconnected, cause)
	t.reconnect()
}

func (t *amqpTransport) setBlocked(c *amqp.Connection, b amqp.Blocking) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != c {
		return
	}
	select {
	case <-t.unblocked: // not blocked now
		if b.Active {
			t.unblocked, t.blockedBy = make(chan struct{}), b.Reason
			t.blocked.Store(true)
			t.log.Warn("broker blocks the connection", "reason", b.Reason)
		}
	default:
		if !b.Active {
			close(t.unblocked)
			t.blocked.Store(false)
			t.log.Info("broker unblocks the connection")
		}
	}
}

// reconnect dials until it has a connection again, declares the topology
// on it, and hands it to the subscriptions and requesters waiting in
// current.
func (t *amqpTransport) reconnect() {
	b := newBackoff(t.cfg.ReconnectMin, t.cfg.ReconnectMax)
	for {
		if !pause.For(t.ctx, b.Wait()) {
			return
		}
		ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
		c, err := t.dial(ctx)
		cancel()
		if err == nil {
			err = t.restore(c)
			if err != nil {
				c.Close()
			}
		}
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			t.state(StateReconnecting, err)
			continue
		}
		t.mu.Lock()
		if t.ctx.Err() != nil {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.mu.Unlock()
		t.setConn(c)
		t.state(StateConnected, nil)
		go t.watch(c)
		return
	}
}

// restore declares on c the queues declared before, so that consumers find
// them (an auto-delete queue left with its last consumer).
func (t *amqpTransport) restore(c *amqp.Connection) error {
	t.mu.Lock()
	queues := make([]Queue, 0, len(t.queues))
	for _, q := range t.queues {
		queues = append(queues, q)
	}
	t.mu.Unlock()
	ch, err := c.Channel()
	if err != nil {
		return err
	}
	defer func() { ch.Close() }() // the last channel: a refusal replaces it
	for _, q := range queues {
		err := declareOn(ch, q)
		var me *MismatchError
		if errors.As(err, &me) {
			// Someone redeclared it meanwhile: consume it as it is.
			t.log.Warn("queue changed while disconnected", "queue", q.Name, "error", err)
			if ch, err = c.Channel(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}
