package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/redact"
)

// directReplyTo is RabbitMQ's pseudo-queue for replies: consumed with
// no-ack on the channel that publishes the calls, it needs no queue of ours.
const directReplyTo = "amq.rabbitmq.reply-to"

// amqpTransport is the RabbitMQ transport. It keeps one connection, and
// replaces it when it is lost (see reconnect.go); subscriptions and
// requesters re-attach themselves to each new connection.
//
// amqp091-go's own recovery (Config.Recovery) stays off: it reopens
// channels in-band, and rabibridge must fail the calls in flight on a lost
// channel at once, and owns its topology.
type amqpTransport struct {
	cfg    Config
	urls   []string // the nodes to try, in turn
	next   int      // the one to try next; guarded by mu
	log    *slog.Logger
	ctx    context.Context // ends when the transport closes
	cancel context.CancelFunc

	live atomic.Pointer[amqp.Connection] // the connection while it is up: the lock-free fast path

	mu        sync.Mutex
	conn      *amqp.Connection // nil while disconnected
	up        chan struct{}    // closed while connected
	at        string           // the URL connected to last, redacted; guarded by mu
	unblocked chan struct{}    // closed while the broker does not block the connection
	blocked   atomic.Bool      // the fast path of waitUnblocked
	blockedBy string
	queues    map[string]Queue // declared, declared again on each new connection
	socks     map[*amqp.Connection]*guardedConn

	replies replier // for replies from no subscription

	tags atomic.Uint64

	// readLimit is the largest body read into memory (see inbound): the
	// largest any consumer or requester of the transport takes; 0 until
	// one says.
	readLimit atomic.Int64
}

func dialAMQP(ctx context.Context, cfg Config, urls []string, log *slog.Logger) (*amqpTransport, error) {
	for _, u := range urls {
		if _, err := cfg.TLS(u); err != nil {
			return nil, err
		}
	}
	t := &amqpTransport{cfg: cfg, urls: urls, next: rand.IntN(len(urls)), log: log, queues: map[string]Queue{}, socks: map[*amqp.Connection]*guardedConn{}}
	t.replies.t = t
	c, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.setConn(c)
	go t.watch(c)
	t.state(StateConnected, nil)
	return t, nil
}

// dial opens one connection, to the first of the nodes that answers,
// starting with the one after the last it connected to.
func (t *amqpTransport) dial(ctx context.Context) (*amqp.Connection, error) {
	var errs []error
	for range t.urls {
		t.mu.Lock()
		i := t.next % len(t.urls)
		t.next = i + 1
		t.mu.Unlock()
		c, err := t.dialURL(ctx, t.urls[i])
		if err == nil {
			t.mu.Lock()
			t.at = redact.URL(t.urls[i]) // for the one line that says so
			t.mu.Unlock()
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// dialURL opens one connection to url.
func (t *amqpTransport) dialURL(ctx context.Context, url string) (*amqp.Connection, error) {
	tlsCfg, err := t.cfg.TLS(url)
	if err != nil {
		return nil, err
	}
	name := t.cfg.Name
	if name == "" {
		host, _ := os.Hostname()
		name = "rabibridge-go " + host + " " + strconv.Itoa(os.Getpid())
	}
	var sock *guardedConn
	acfg := amqp.Config{
		Heartbeat:       t.cfg.Heartbeat,
		TLSClientConfig: tlsCfg,
		Properties: amqp.Table{
			"connection_name": name,
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
			sock = guard(c, t.cfg.Heartbeat, &t.readLimit)
			return sock, sock.SetDeadline(deadline)
		},
	}
	c, err := openAMQP(url, acfg)
	var ae *amqp.Error
	switch {
	case err == nil:
		// What amqp091-go's heartbeat goroutine would set: three of the
		// broker's heartbeats, at half the negotiated interval.
		sock.readWithin(c.Config.Heartbeat * 3 / 2)
		t.mu.Lock()
		t.socks[c] = sock
		t.mu.Unlock()
		return c, nil
	case errors.As(err, &ae) && (ae.Code == amqp.AccessRefused || ae.Code == amqp.NotAllowed):
		return nil, fmt.Errorf("bridge: connecting to %s: %w (%s): check the user and password "+
			"(in the URL, RABBITMQ_USERNAME and RABBITMQ_PASSWORD, or the config file's [rabbitmq] section) "+
			"and that the user may use the virtual host", redact.URL(url), ErrAccessRefused, ae.Reason)
	}
	return nil, fmt.Errorf("bridge: connecting to %s: %w", redact.URL(url), err)
}

func (t *amqpTransport) setConn(c *amqp.Connection) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live.Store(c)
	t.blocked.Store(false)
	t.conn = c
	if t.up == nil {
		t.up = make(chan struct{})
	}
	close(t.up)
	t.unblocked = make(chan struct{})
	close(t.unblocked)
}

// current returns the live connection, waiting up to ctx for one while the
// transport reconnects.
func (t *amqpTransport) current(ctx context.Context) (*amqp.Connection, error) {
	if c := t.live.Load(); c != nil && !c.IsClosed() {
		return c, nil
	}
	for {
		t.mu.Lock()
		c, up := t.conn, t.up
		t.mu.Unlock()
		if c != nil && !c.IsClosed() {
			return c, nil
		}
		var wait <-chan struct{} = up
		if c != nil { // lost a moment ago: watch has not noticed yet
			wait = closedAfter(5 * time.Millisecond)
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("bridge: %w: waiting for the broker: %w", rabibridge.ErrConnectionLost, ctx.Err())
		case <-t.ctx.Done():
			return nil, errClosed
		}
	}
}

func closedAfter(d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	time.AfterFunc(d, func() { close(ch) })
	return ch
}

// waitUnblocked waits while the broker blocks the connection (a memory or
// disk alarm), up to ctx.
func (t *amqpTransport) waitUnblocked(ctx context.Context) error {
	if !t.blocked.Load() {
		return nil
	}
	t.mu.Lock()
	ch, reason := t.unblocked, t.blockedBy
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	default:
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bridge: %w: the broker blocks publishing (%s): %w", rabibridge.ErrConnectionLost, reason, ctx.Err())
	case <-t.ctx.Done():
		return errClosed
	}
}

// lost maps errors of a dead connection or channel (amqp091-go's
// ErrClosed, and the network errors it passes through) to
// ErrConnectionLost.
func lost(err error) error {
	if err == nil {
		return nil // before anything escapes: the common case
	}
	return lostErr(err)
}

func lostErr(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, amqp.ErrClosed), errors.As(err, &ne), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return fmt.Errorf("bridge: %w: %w", rabibridge.ErrConnectionLost, err)
	}
	return err
}

// withChannel runs f on a channel of its own on the current connection:
// a refused operation closes its channel, and must leave the rest of the
// connection usable.
func (t *amqpTransport) withChannel(ctx context.Context, f func(ch *amqp.Channel) error) error {
	c, err := t.current(ctx)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		ch, err := c.Channel()
		if err != nil {
			done <- lost(err)
			return
		}
		defer ch.Close()
		done <- f(ch)
	}()
	// Opening a channel and what f does wait for the broker's answers,
	// which amqp091-go does without a context: a broker that blocks the
	// connection, or a stalled path, must not hold ctx's owner. What is
	// left finishes when the broker answers or the connection ends.
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		why := "no answer from the broker"
		if t.blockedConn(c) {
			why = "the broker blocks the connection (" + t.blockReason() + ") and reads nothing from it"
		}
		return fmt.Errorf("bridge: %w: %s: %w", rabibridge.ErrConnectionLost, why, ctx.Err())
	}
}

func (t *amqpTransport) declare(ctx context.Context, q Queue) error {
	if err := t.withChannel(ctx, func(ch *amqp.Channel) error { return declareOn(ch, q) }); err != nil {
		return err
	}
	q.Redeclare = false // once is enough: a new connection declares it as it is
	t.mu.Lock()
	t.queues[q.Name] = q
	t.mu.Unlock()
	return nil
}

func (t *amqpTransport) deleteQueue(ctx context.Context, name string) error {
	err := t.withChannel(ctx, func(ch *amqp.Channel) error {
		if _, err := ch.QueueDelete(name, false, false, false); err != nil {
			return fmt.Errorf("bridge: deleting queue %s: %w", name, lost(err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.mu.Lock()
	delete(t.queues, name)
	t.mu.Unlock()
	return nil
}

func (t *amqpTransport) inspect(ctx context.Context, name string) (QueueState, error) {
	var st QueueState
	err := t.withChannel(ctx, func(ch *amqp.Channel) error {
		q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
		if err != nil {
			return storeErr("inspecting queue", name, err)
		}
		st = QueueState{Messages: q.Messages, Consumers: q.Consumers}
		return nil
	})
	return st, err
}

func (t *amqpTransport) unbind(ctx context.Context, q Queue) error {
	return t.withChannel(ctx, func(ch *amqp.Channel) error {
		if err := ch.QueueUnbind(q.Name, q.RoutingKey, protocol.Exchange, nil); err != nil {
			return fmt.Errorf("bridge: unbinding queue %s: %w", q.Name, lost(err))
		}
		return nil
	})
}

// declareOn declares the exchange and q, and binds q, on ch.
func declareOn(ch *amqp.Channel, q Queue) error {
	if err := ch.ExchangeDeclare(protocol.Exchange, "direct", true, false, false, false, nil); err != nil {
		return fmt.Errorf("bridge: declaring exchange %s: %w", protocol.Exchange, lost(err))
	}
	if q.Redeclare {
		if _, err := ch.QueueDelete(q.Name, false, false, false); err != nil {
			return fmt.Errorf("bridge: deleting queue %s: %w", q.Name, lost(err))
		}
	}
	if _, err := ch.QueueDeclare(q.Name, true, q.AutoDelete(), false, false, amqp.Table(q.Args())); err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
			return &MismatchError{Queue: q.Name, Want: q.Args(), Cause: err}
		}
		return fmt.Errorf("bridge: declaring queue %s: %w", q.Name, lost(err))
	}
	if err := ch.QueueBind(q.Name, q.RoutingKey, protocol.Exchange, false, nil); err != nil {
		return fmt.Errorf("bridge: binding queue %s: %w", q.Name, lost(err))
	}
	return nil
}

// message converts a delivery's properties and headers. The deadline comes
// from the correlation id (see callID) or, from clients that cannot choose
// their ids, the protocol.HeaderDeadline header; CorrelationID is the id without it.
func message(d amqp.Delivery) Message {
	cid, deadline := protocol.SplitCallID(d.CorrelationId)
	m := Message{Body: d.Body, CorrelationID: cid, ReplyTo: d.ReplyTo, ContentType: d.ContentType, Deadline: deadline}
	if n := tooLarge(d.Body); n > 0 {
		m.Body, m.TooLarge = nil, n
	}
	for k, v := range d.Headers {
		switch v := v.(type) {
		case string:
			if m.Headers == nil {
				m.Headers = make(map[string]string, len(d.Headers))
			}
			m.Headers[k] = v
		case int64:
			switch k {
			case protocol.HeaderDeadline:
				m.Deadline = time.UnixMilli(v)
			case protocol.HeaderDeliveryCount: // a quorum queue's count of earlier deliveries
				if m.Headers == nil {
					m.Headers = make(map[string]string, len(d.Headers))
				}
				m.Headers[k] = strconv.FormatInt(v, 10)
			}
		case int32:
			if k == protocol.HeaderDeadline {
				m.Deadline = time.UnixMilli(int64(v))
			}
		}
	}
	return m
}

// copiesBodies: amqp091-go writes a publish's frames before it returns and
// keeps no reference to the body (TestCopiesBodies holds it to that).
func (t *amqpTransport) copiesBodies() bool { return true }

// publishing converts a message for publishing.
func publishing(m Message) amqp.Publishing {
	p := amqp.Publishing{Body: m.Body, CorrelationId: protocol.CallID(m.CorrelationID, m.Deadline), ReplyTo: m.ReplyTo, ContentType: m.ContentType}
	if len(m.Headers) > 0 {
		p.Headers = make(amqp.Table, len(m.Headers))
		for k, v := range m.Headers {
			p.Headers[k] = v
		}
	}
	if m.Expire && !m.Deadline.IsZero() {
		p.Expiration = strconv.FormatInt(max(time.Until(m.Deadline).Milliseconds(), 1), 10)
	}
	return p
}

func (t *amqpTransport) reply(ctx context.Context, m Message) error {
	return t.replies.publish(ctx, m, nil)
}

func (t *amqpTransport) close() error {
	t.cancel()
	t.mu.Lock()
	c := t.conn
	t.conn = nil
	t.live.Store(nil)
	t.mu.Unlock()
	t.state(StateClosed, nil)
	if c == nil {
		return nil
	}
	return t.within(c, "closing the connection", func() error {
		err := c.Close() // bounded by within, which closes the socket past closeTimeout
		if errors.Is(err, amqp.ErrClosed) {
			return nil
		}
		return err
	})
}

// closeTimeout bounds each exchange of a close (a channel's cancel or
// close, the connection's close) with a broker that may not answer.
// While the broker blocks the connection it reads nothing, so a close
// waits only blockedCloseTimeout, in case the alarm is just clearing.
const (
	closeTimeout        = 5 * time.Second
	blockedCloseTimeout = time.Second
	// minExchange is what an exchange is given when its bound has passed:
	// a broker that answers, answers within it.
	minExchange = 20 * time.Millisecond
)

// within runs f, an exchange with the broker over c that a close needs,
// and ends it when it has no answer within closeTimeout or
// blockedCloseTimeout (the broker blocks
// c for a memory or disk alarm and reads nothing from it, or the path to it
// is stalled) by closing c's socket, which ends every wait on c. The broker
// then puts back the calls it delivered on c and that were not
// acknowledged.
func (t *amqpTransport) within(c *amqp.Connection, what string, f func() error) error {
	return t.withinBy(c, what, time.Time{}, f)
}

// withinBy is within, ending f by the time by too, when by is not zero.
func (t *amqpTransport) withinBy(c *amqp.Connection, what string, by time.Time, f func() error) error {
	timeout := closeTimeout
	if t.blockedConn(c) {
		timeout = blockedCloseTimeout
	}
	if !by.IsZero() {
		timeout = max(min(timeout, time.Until(by)), minExchange)
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
	}
	why := "the network to it may be stalled"
	if t.blockedConn(c) {
		why = "it blocks the connection (" + t.blockReason() + ") and reads nothing from it"
	}
	t.kill(c)
	<-done
	return fmt.Errorf("bridge: %s: %w: no answer from the broker within %v (%s): closed the connection",
		what, rabibridge.ErrConnectionLost, timeout, why)
}

// blockedConn reports whether the broker blocks c.
func (t *amqpTransport) blockedConn(c *amqp.Connection) bool {
	if !t.blocked.Load() {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conn == nil || t.conn == c // a closed transport's last connection was current
}

func (t *amqpTransport) now() State {
	c := t.live.Load()
	s := State{Connected: c != nil && !c.IsClosed()}
	if s.Connected && t.blocked.Load() {
		s.Blocked = t.blockReason()
		if s.Blocked == "" {
			s.Blocked = "blocked by the broker"
		}
	}
	return s
}

func (t *amqpTransport) blockReason() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.blockedBy
}

// sockOf returns c's socket.
func (t *amqpTransport) sockOf(c *amqp.Connection) *guardedConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.socks[c]
}

// readUpTo raises the largest body read into memory to n.
func (t *amqpTransport) readUpTo(n int) {
	for {
		cur := t.readLimit.Load()
		if int64(n) <= cur || t.readLimit.CompareAndSwap(cur, int64(n)) {
			return
		}
	}
}

// kill closes c's socket.
func (t *amqpTransport) kill(c *amqp.Connection) {
	t.mu.Lock()
	sock := t.socks[c]
	t.mu.Unlock()
	if sock != nil {
		sock.kill()
	}
}
