package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/rabibridge/rabibridge"
)

// ErrAccessRefused is wrapped by Dial's error when the broker refuses the
// user, the password or the virtual host.
var ErrAccessRefused = errors.New("the broker refused access")

// Config is what a transport needs: bridge.Config resolved.
type Config struct {
	// URLs are the brokers to try, at least one; mem:// takes one.
	URLs []string
	// TLS returns the TLS configuration for dialling url, nil for amqp://.
	TLS                        func(url string) (*tls.Config, error)
	Name                       string
	Heartbeat                  time.Duration                 // zero means 10s
	ReconnectMin, ReconnectMax time.Duration                 // zero means DefaultReconnectMin, DefaultReconnectMax
	MaxMessageSize             int                           // zero means DefaultMaxMessageSize
	OnStateChange              func(state string, err error) // one of the State constants
	Logger                     *slog.Logger                  // nil means Warn and above, to slog.Default()
}

// Conn is a connection to a broker, safe for concurrent use: bridge.Conn.
type Conn struct {
	cfg    Config
	t      transport
	log    *slog.Logger
	closed sync.Once
	err    error
}

// transport is what a kind of broker implements.
type transport interface {
	declare(ctx context.Context, q Queue) error
	deleteQueue(ctx context.Context, name string) error
	inspect(ctx context.Context, name string) (QueueState, error)
	unbind(ctx context.Context, q Queue) error
	consume(ctx context.Context, queue string, o ConsumeOptions, h func(*Delivery)) (Subscription, error)
	reply(ctx context.Context, m Message) error
	listen(ctx context.Context, exchange string, h func(Message)) (Subscription, error)
	requester(h ReplyHandler) (Requester, error)
	copiesBodies() bool
	now() State
	put(ctx context.Context, queue string, m Message, declare bool) error
	browse(ctx context.Context, queue string, max int) ([]Message, error)
	take(ctx context.Context, queue string, max int, f func(Message) error) (int, error)
	purge(ctx context.Context, queue string) (int, error)
	close() error
}

// State is what a connection knows of the broker now.
type State struct {
	// Connected: a connection to the broker is up.
	Connected bool
	// Blocked is why the broker blocks the connection's publishing (a
	// memory or disk alarm); empty while it does not.
	Blocked string
}

// State reports whether the connection is up and whether the broker blocks it.
func (c *Conn) State() State { return c.t.now() }

// Dial connects to the broker cfg.URLs names, picking the transport from
// the first URL's scheme.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("bridge: no broker URL")
	}
	u, err := url.Parse(cfg.URLs[0])
	if err != nil {
		return nil, errors.New("bridge: the broker URL does not parse") // quoting it would show its password
	}
	if cfg.Logger == nil {
		cfg.Logger = defaultLogger() // Warn and above, to the program's slog.Default()
	}
	if cfg.TLS == nil {
		cfg.TLS = func(string) (*tls.Config, error) { return nil, nil }
	}
	var t transport
	switch u.Scheme {
	case "mem":
		if len(cfg.URLs) > 1 {
			return nil, fmt.Errorf("bridge: mem:// takes one URL, got %d", len(cfg.URLs))
		}
		t = dialMem(u.Host + u.Path)
	case "amqp", "amqps":
		if cfg.Heartbeat == 0 {
			cfg.Heartbeat = 10 * time.Second
		}
		if t, err = dialAMQP(ctx, cfg, cfg.URLs, cfg.Logger); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("bridge: unsupported URL scheme %q: want mem, amqp or amqps", u.Scheme)
	}
	return &Conn{t: t, log: cfg.Logger, cfg: cfg}, nil
}

// Declare makes sure the queue q exists with its arguments and is bound to
// protocol.Exchange. A queue of that name with other arguments gives a
// *MismatchError, unless q.Redeclare is set.
func (c *Conn) Declare(ctx context.Context, q Queue) error { return c.t.declare(ctx, q) }

// DeleteQueue deletes the queue name with the calls waiting in it: how a
// retired function's quorum queue (which outlives its workers) goes.
// Deleting a queue that does not exist is not an error.
func (c *Conn) DeleteQueue(ctx context.Context, name string) error { return c.t.deleteQueue(ctx, name) }

// Consume starts taking calls from queue and runs h for each, on up to
// o.Concurrency goroutines at once: h may take as long as the call needs.
// The goroutines take the calls from the transport themselves and are
// reused; see ConsumeOptions.
// QueueState is what the broker says of a queue.
type QueueState struct {
	Messages  int // ready to be delivered (not counting those delivered and not acknowledged)
	Consumers int
}

// Inspect returns the state of queue name.
func (c *Conn) Inspect(ctx context.Context, name string) (QueueState, error) {
	return c.t.inspect(ctx, name)
}

// Unbind unbinds q from the exchange: calls to its function are returned
// to their callers as missing from then on, instead of being queued. A
// declaration binds it again.
func (c *Conn) Unbind(ctx context.Context, q Queue) error { return c.t.unbind(ctx, q) }

func (c *Conn) Consume(ctx context.Context, queue string, o ConsumeOptions, h func(*Delivery)) (Subscription, error) {
	return c.t.consume(ctx, queue, o.withDefaults(), h)
}

// Reply publishes m to the address m.ReplyTo. A reply to an address that no
// longer exists is dropped, as the broker drops it.
func (c *Conn) Reply(ctx context.Context, m Message) error { return c.t.reply(ctx, m) }

// Listen binds a queue of its own (exclusive, deleted with its connection)
// to the fanout exchange and passes every message published there to h, on
// one goroutine; the messages need no acknowledgement. It follows the
// connection through reconnects until the subscription is closed. Worker
// instances listen for discovery requests this way.
func (c *Conn) Listen(ctx context.Context, exchange string, h func(Message)) (Subscription, error) {
	return c.t.listen(ctx, exchange, h)
}

// NewRequester opens a requester whose replies (and returned calls) go to h.
func (c *Conn) NewRequester(h ReplyHandler) (Requester, error) { return c.t.requester(h) }

// CopiesBodies reports whether the transport is done with a Message's Body
// when Publish (of a Requester) or Reply (of a Delivery) returns, so that
// its buffer may be reused at once. RabbitMQ's is: the frames are written
// by then. The in-process transport's is not: it hands the Body on as it
// is, to the handler or the caller on the other side.
func (c *Conn) CopiesBodies() bool { return c.t.copiesBodies() }

// DefaultMaxMessageSize is RabbitMQ's default max_message_size, 128 MiB.
const DefaultMaxMessageSize = 128 << 20

// MaxMessageSize is the largest body the broker takes
// (Config.MaxMessageSize).
func (c *Conn) MaxMessageSize() int {
	if c.cfg.MaxMessageSize > 0 {
		return c.cfg.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// Logger returns the connection's logger.
func (c *Conn) Logger() *slog.Logger { return c.log }

// Close closes the connection and everything opened on it. It is idempotent.
// Of returns the transport of a *bridge.Conn, whose field holding it is
// unexported: bridge sets it, so that workers and callers reach the
// transport while the public type shows none of it.
var Of func(conn any) *Conn

func (c *Conn) Close() error {
	c.closed.Do(func() { c.err = c.t.close() })
	return c.err
}

// Subscription is a running consumer of one queue.
type Subscription interface {
	// Cancel stops deliveries: no call starts after it returns. Calls under
	// way go on, and may still be acknowledged.
	Cancel() error
	// Wait, after Cancel, waits until the calls of the handler under way
	// have returned, or ctx ends (then it returns ctx's error).
	Wait(ctx context.Context) error
	// Close cancels, and returns the calls delivered but not acknowledged
	// to the queue (the broker redelivers them). It is idempotent.
	Close() error
	// CancelBy is Cancel, which returns by the time by whatever the broker
	// and the handlers under way do; calls already delivered may still
	// start after it returns, until Close.
	CancelBy(by time.Time) error
	// CloseBy is Close, done by the time by whatever the broker does: an
	// exchange it does not answer by then ends the connection (which gives
	// the calls back all the same).
	CloseBy(by time.Time) error
	// Abandon gives up the replies still to go out: they fail at once, and
	// their calls stay unacknowledged, for the broker to redeliver.
	Abandon()
	// Done is closed when the subscription ends, by Close or because its
	// connection was lost.
	Done() <-chan struct{}
	// Attached reports whether the consumer is attached to its queue now:
	// false while its connection is down, while its queue is declared again
	// after a deletion, and once it has ended.
	Attached() bool
}

// Requester publishes calls and receives their replies.
type Requester interface {
	// Publish publishes a call with the routing key, its reply address set
	// to ReplyTo, and waits for the broker to take it. It returns an error wrapping
	// rabibridge.ErrQueueFull when the function's queue is full and
	// rabibridge.ErrNoSuchFunction when no queue is bound to the key (a
	// transport may instead report that through ReplyHandler.Returned; for
	// a call whose ReplyTo is protocol.NoReply, it does so before Publish
	// returns).
	Publish(ctx context.Context, routingKey string, m Message) error
	// Broadcast publishes m, its reply address set to ReplyTo, to the
	// fanout exchange: every listener gets it, and their replies come to
	// the ReplyHandler with m's correlation id. Nobody listening is not an
	// error.
	Broadcast(ctx context.Context, exchange string, m Message) error
	// ReplyTo is the address replies to this requester's calls go to.
	ReplyTo() string
	// Close closes the requester. It is idempotent.
	Close() error
}

// ReplyHandler receives what comes back to a requester. Its methods are
// called from the transport's goroutines and must not block.
type ReplyHandler interface {
	// Reply receives a reply.
	Reply(m Message)
	// Returned receives the correlation id of a call the broker could not
	// route: no function queue is bound to its key.
	Returned(correlationID string)
	// Lost is called when the requester's connection is lost: calls in
	// flight will get no reply.
	Lost(err error)
	// Recovered is called when the requester works again after a loss.
	// Workers may not have declared their queues again yet.
	Recovered()
}

// errClosed is returned by operations on a closed connection.
var errClosed = fmt.Errorf("bridge: %w", rabibridge.ErrClosed)
