package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/codec"
	"github.com/rabibridge/rabibridge/internal/redact"
)

// ErrAccessRefused is wrapped by Dial's error when the broker refuses the
// user, the password or the virtual host. Trying again does not help:
// check the credentials.
var ErrAccessRefused = errors.New("the broker refused access")

// Conn is a connection to a broker, safe for concurrent use. Workers and
// callers share one Conn; each opens what it needs on it.
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
	close() error
}

// Dial connects to the broker cfg names. Fields cfg leaves empty are taken
// from the environment (see Env); use LoadConfig to read a config file too.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if err := cfg.overlayEnv(false); err != nil {
		return nil, err
	}
	urls, err := cfg.brokerURLs()
	if err != nil {
		return nil, err
	}
	// Every URL is checked here, by an error that quotes none of it: a
	// parser's error quotes the URL, and so the password, or the part of a
	// password before an unescaped '/', '#' or '%'.
	for i, u := range urls {
		which := "the broker URL"
		if len(urls) > 1 {
			which = fmt.Sprintf("broker URL %d of %d", i+1, len(urls))
		}
		if err := redact.Check(which, u); err != nil {
			return nil, fmt.Errorf("bridge: %w", err)
		}
	}
	// One answer for the codec, for the workers and callers alike.
	if _, ok := codec.ByName(cfg.App.Serialiser); !ok {
		return nil, fmt.Errorf("bridge: serialiser %q (App.Serialiser, RABIBRIDGE_SERIALISER or the config file's SERIALISER): want msgpack or json", cfg.App.Serialiser)
	}
	u, _ := url.Parse(urls[0]) // checked above
	log := cfg.Logger
	if log == nil {
		log = defaultLogger() // Warn and above, to the program's slog.Default()
	}
	var t transport
	switch u.Scheme {
	case "mem":
		if len(urls) > 1 {
			return nil, fmt.Errorf("bridge: mem:// takes one URL, got %d", len(urls))
		}
		t = dialMem(u.Host + u.Path)
	case "amqp", "amqps":
		if cfg.Heartbeat == 0 {
			cfg.Heartbeat = 10 * time.Second
		}
		if t, err = dialAMQP(ctx, cfg, urls, log); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("bridge: unsupported URL scheme %q: want mem, amqp or amqps", u.Scheme)
	}
	cfg.Password, cfg.Secret = "", "" // kept for App; the transport has what it needs
	return &Conn{t: t, log: log, cfg: cfg}, nil
}

// Declare makes sure the queue q exists with its arguments and is bound to
// Exchange. A queue of that name with other arguments gives a
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

// App returns the [app] settings the connection was dialled with; workers
// and callers use them where their own Config leaves them unset.
func (c *Conn) App() App { return c.cfg.App }

// Logger returns the connection's logger.
func (c *Conn) Logger() *slog.Logger { return c.log }

// Close closes the connection and everything opened on it. It is idempotent.
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
	// Done is closed when the subscription ends, by Close or because its
	// connection was lost.
	Done() <-chan struct{}
}

// Requester publishes calls and receives their replies.
type Requester interface {
	// Publish publishes a call with the routing key, its reply address set
	// to ReplyTo, and waits for the broker to take it. It returns an error wrapping
	// rabibridge.ErrQueueFull when the function's queue is full and
	// rabibridge.ErrNoSuchFunction when no queue is bound to the key (a
	// transport may instead report that through ReplyHandler.Returned).
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
