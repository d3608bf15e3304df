package caller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/codec"
	"github.com/rabibridge/rabibridge/internal/bufpool"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/internal/wire"
)

// defaultCIDMax is RabiBridge's CID_MAX: correlation ids count up modulo
// it from a random start.
const defaultCIDMax = 1 << 30

// Config configures a Caller. The zero value is useful.
type Config struct {
	// Codec encodes calls; nil means codec.Msgpack. Replies are read in
	// the codec they name.
	Codec codec.Codec
	// CompressThreshold is the call size above which calls are compressed
	// with zstd; zero means 1024 bytes, as in RabiBridge; negative turns
	// compression off.
	CompressThreshold int
	// MaxBodySize limits a reply's body after decompression; zero means
	// 16 MiB.
	MaxBodySize int
	// Timeout bounds calls whose ctx has no deadline; zero means they wait
	// as long as their ctx lets them. A ctx deadline always wins.
	Timeout time.Duration
	// CIDMax bounds correlation ids, which count up modulo it from a random
	// start, as RabiBridge's do (its CID_MAX); zero means 2^30.
	CIDMax int
	// Expire has the broker drop a call still queued when its deadline
	// passes (the AMQP expiration, set from the deadline). Go workers
	// skip such calls without it, so it is for calling Python RabiBridge
	// workers; it costs the broker CPU per call (docs/benchmarks.md).
	Expire bool
	// Kind is the RabiBridge function kind ("async" or "sync") of the
	// functions called; empty means "async".
	Kind string
	// Interceptors wrap every call, the first outermost: to log, measure,
	// trace (they may set outgoing headers), retry. With none, calls take
	// the direct path.
	Interceptors []rabibridge.Interceptor
	// Logger receives the caller's log lines; nil means the connection's.
	Logger *slog.Logger
}

// Caller makes calls on a connection. It is safe for concurrent use; make
// one per connection and share it.
type Caller struct {
	cfg   Config
	body  wire.Settings // cfg's codec and body limits, resolved
	log   *slog.Logger
	req   transport.Requester
	reply string
	ctype string
	cid   atomic.Uint64
	// sendID begins the correlation id of every Send: unique to this
	// caller, since a call that wants no reply shares its reply address
	// with every other such call, and a worker tells calls apart by reply
	// address and correlation id (a run-once function's key).
	sendID   string
	routesMu sync.RWMutex
	routes   map[routeID]*route

	mu      sync.Mutex
	pending map[string]*call
	collect map[string]chan transport.Message // discovery requests, by correlation id
	closed  bool

	lostAt atomic.Int64 // unix ns of the latest connection loss or recovery

	chain rabibridge.Next // the interceptors around the round trip; nil without any

	// recycle: the transport is done with a body when Publish returns
	// (transport.Conn.CopiesBodies), so a large one goes back to the pool
	// (release).
	recycle bool
	// maxMessage is the largest body the broker takes.
	maxMessage int
	// cancels are the cancellations being passed on; Close waits for them.
	cancels sync.WaitGroup
}

// RecoveryWindow is how long after its connection was lost or came back,
// or after a function last answered, a caller reports the function missing
// as retryable too (60 s): a worker's auto-delete queue is gone until the worker
// has reconnected and declared it again. It covers a worker cut off from
// the broker: the broker notices after two to three heartbeat intervals
// (10 s each by default), the worker about as soon, and it serves again
// within a few seconds of the path's return.
const RecoveryWindow = 60 * time.Second

// New returns a caller that calls through conn.
func New(conn *bridge.Conn, cfg Config) (*Caller, error) {
	t := transport.Of(conn)
	if cfg.CIDMax <= 0 {
		cfg.CIDMax = defaultCIDMax
	}
	kind, err := protocol.CheckKind(cfg.Kind)
	if err != nil {
		return nil, fmt.Errorf("caller: %w", err)
	}
	cfg.Kind = kind
	log := cfg.Logger
	if log == nil {
		log = t.Logger()
	}
	c := &Caller{cfg: cfg, body: wire.Resolve(cfg.Codec, cfg.CompressThreshold, cfg.MaxBodySize), log: log, pending: map[string]*call{}, collect: map[string]chan transport.Message{}, routes: map[routeID]*route{},
		recycle: t.CopiesBodies(), maxMessage: t.MaxMessageSize()}
	c.ctype = c.body.Codec.ContentType()
	c.cid.Store(rand.Uint64N(uint64(cfg.CIDMax)))
	c.sendID = fmt.Sprintf("send-%016x-", rand.Uint64())
	req, err := t.NewRequester((*handler)(c))
	if err != nil {
		return nil, fmt.Errorf("caller: %w", err)
	}
	c.req, c.reply = req, req.ReplyTo()
	if len(cfg.Interceptors) > 0 {
		c.chain = c.final
		for i := len(cfg.Interceptors) - 1; i >= 0; i-- {
			c.chain = cfg.Interceptors[i](c.chain)
		}
	}
	return c, nil
}

// Close fails the calls in flight with rabibridge.ErrClosed and releases the
// caller's reply address. It is idempotent.
func (c *Caller) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	pending := c.pending
	c.pending = map[string]*call{}
	c.mu.Unlock()
	for _, p := range pending {
		p.done <- result{err: rabibridge.ErrClosed}
	}
	c.cancels.Wait() // a program that closes and exits still tells the workers
	return c.req.Close()
}

// call is a call waiting for its reply.
type call struct {
	done chan result // buffered: whoever completes a call never blocks
}

type result struct {
	msg transport.Message
	err error
}

var calls = sync.Pool{New: func() any { return &call{done: make(chan result, 1)} }}

// Call calls function name with req and decodes its result into a Resp. A
// struct or map Req travels as keyword arguments; any other type as the one
// positional argument.
func Call[Req, Resp any](ctx context.Context, c *Caller, name string, req Req) (Resp, error) {
	return callKind[Req, Resp](ctx, c, "", name, req)
}

// callKind is Call of a function of kind (empty: the caller's Config.Kind).
func callKind[Req, Resp any](ctx context.Context, c *Caller, kind, name string, req Req) (Resp, error) {
	var resp Resp
	if c.chain != nil {
		return resp, c.intercepted(ctx, &rabibridge.Call{Function: name, Request: req, Response: &resp}, kind, encoderOf[Req](c))
	}
	body, err := encode(c, req)
	if err != nil {
		return resp, fmt.Errorf("caller: %s: encoding the request: %w", name, err)
	}
	err = c.roundTrip(ctx, kind, name, body, nil, &resp)
	c.release(body)
	return resp, err
}

// Send calls function name with req and wants no reply: it returns once the
// broker has taken the call into the function's queue, with the errors of
// Call up to there (rabibridge.ErrQueueFull, ErrNoSuchFunction, retryable
// ErrConnectionLost, the ctx's), and nil then. A worker runs the handler
// and sends nothing back; what the handler returns, or its error, only its
// worker's log sees. A Python RabiBridge worker runs it too, and its reply
// goes to an address the broker drops (protocol.md: "no reply"). For
// positional arguments, send an Args.
func Send[Req any](ctx context.Context, c *Caller, name string, req Req) error {
	return sendKind(ctx, c, "", name, req)
}

// sendKind is Send to a function of kind (empty: the caller's Config.Kind).
func sendKind[Req any](ctx context.Context, c *Caller, kind, name string, req Req) error {
	if c.chain != nil {
		return c.intercepted(ctx, &rabibridge.Call{Function: name, Request: req}, kind, encoderOf[Req](c))
	}
	body, err := encode(c, req)
	if err != nil {
		return fmt.Errorf("caller: %s: encoding the request: %w", name, err)
	}
	err = c.roundTrip(ctx, kind, name, body, nil, nil)
	c.release(body)
	return err
}

// encode encodes req as Call and Send send it: a struct or map as keyword
// arguments, any other type as the one positional argument.
func encode[Req any](c *Caller, req Req) ([]byte, error) {
	buf := make([]byte, 0, 128) // most calls fit; the transport owns it after Publish
	t := reflect.TypeFor[Req]()
	if t == argsType { // compared first: req is not boxed for the common case
		a := any(req).(Args)
		return appendArgs(c, buf, a.Args, a.Kwargs)
	}
	if wire.AsKwargs(t) {
		return wire.AppendRequest(c.body.Codec, buf, nil, req)
	}
	return wire.AppendRequestArg(c.body.Codec, buf, req)
}

var argsType = reflect.TypeFor[Args]()

// appendArgs appends the request of positional args and keyword kwargs.
func appendArgs(c *Caller, dst []byte, args []any, kwargs map[string]any) ([]byte, error) {
	var kw any
	if kwargs != nil {
		kw = kwargs
	}
	return wire.AppendRequest(c.body.Codec, dst, args, kw)
}

// Invoke calls function name with positional args and keyword kwargs, either
// may be nil, and returns its result as a generic value (for msgpack: nil,
// bool, int64, uint64, float64, string, []byte, []any, map[string]any; for
// JSON, numbers are json.Number).
func (c *Caller) Invoke(ctx context.Context, name string, args []any, kwargs map[string]any) (any, error) {
	var out any
	if c.chain != nil {
		err := c.intercepted(ctx, &rabibridge.Call{Function: name, Request: Args{args, kwargs}, Response: &out}, "", encoderOf[Args](c))
		return out, err
	}
	body, err := appendArgs(c, nil, args, kwargs)
	if err != nil {
		return nil, fmt.Errorf("caller: %s: encoding the request: %w", name, err)
	}
	err = c.roundTrip(ctx, "", name, body, nil, &out)
	c.release(body)
	return out, err
}

// release gives a call's encoded body back to the pool once its round trip
// is over, where the transport is done with bodies when Publish returns;
// nothing else refers to it (the codec made it for this call).
func (c *Caller) release(body []byte) {
	if c.recycle {
		bufpool.Put(body)
	}
}

// roundTrip publishes body as a call of name and decodes the reply's result
// into out; with out nil (Send) it wants no reply, and returns once the
// broker has the call.
func (c *Caller) roundTrip(ctx context.Context, kind, name string, body []byte, headers map[string]string, out any) error {
	if c.cfg.Timeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("caller: %s: %w", name, err)
	}
	deadline, _ := ctx.Deadline()
	cid := strconv.FormatUint(c.cid.Add(1)%uint64(c.cfg.CIDMax), 10)
	if out == nil {
		cid = c.sendID + cid
	}
	p := calls.Get().(*call)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		calls.Put(p)
		return fmt.Errorf("caller: %s: %w", name, rabibridge.ErrClosed)
	}
	c.pending[cid] = p
	c.mu.Unlock()

	wire := wire.Compress(body, c.body.CompressThreshold)
	if len(wire) > c.maxMessage {
		c.forget(cid, p)
		return fmt.Errorf("caller: %s: the call is %d bytes, over the broker's limit of %d "+
			"(its max_message_size, as bridge.Config.MaxMessageSize says): %w", name, len(wire), c.maxMessage, rabibridge.ErrTooLarge)
	}
	replyTo := c.reply
	if out == nil {
		replyTo = protocol.NoReply
	}
	msg := transport.Message{
		Body:          wire,
		CorrelationID: cid,
		ReplyTo:       replyTo,
		ContentType:   c.ctype,
		Deadline:      deadline,
		Expire:        c.cfg.Expire,
		Headers:       headers,
	}
	rt := c.route(kind, name)
	if err := c.req.Publish(ctx, rt.key, msg); err != nil {
		c.forget(cid, p)
		if errors.Is(ctx.Err(), context.Canceled) {
			c.passCancel(cid) // cancelled while the broker confirmed it: a worker may run it already
		}
		if errors.Is(err, rabibridge.ErrNoSuchFunction) {
			err = c.noRoute(rt)
		}
		return fmt.Errorf("caller: %s: %w", name, err)
	}
	if out == nil {
		return c.sent(name, rt, cid, p)
	}
	var r result
	if done := ctx.Done(); done == nil {
		r = <-p.done // ctx can never end: no select needed
	} else {
		select {
		case r = <-p.done:
		case <-done:
			c.forget(cid, p)
			if errors.Is(ctx.Err(), context.Canceled) { // a deadline the worker knows already
				c.passCancel(cid)
				return fmt.Errorf("caller: %s: %w", name, ctx.Err())
			}
			// What is known: the call was in its queue, and no answer came,
			// from a slow handler or a reply lost on its way (a stalled path,
			// a worker cut off after it ran).
			return fmt.Errorf("caller: %s: the broker took the call and no reply came by the deadline (it may have run): %w", name, ctx.Err())
		}
	}
	calls.Put(p)
	if r.err != nil {
		if errors.Is(r.err, rabibridge.ErrNoSuchFunction) {
			r.err = c.noRoute(rt)
		}
		return fmt.Errorf("caller: %s: %w", name, r.err)
	}
	rt.lastOK.Store(time.Now().UnixNano())
	return c.decode(name, &r.msg, out)
}

// sent ends a Send the broker took: it failed only if the call came back
// unrouted, which the transport reported before Publish returned. A
// connection lost since does not undo what the broker confirmed.
func (c *Caller) sent(name string, rt *route, cid string, p *call) error {
	select {
	case r := <-p.done:
		calls.Put(p)
		if errors.Is(r.err, rabibridge.ErrNoSuchFunction) {
			return fmt.Errorf("caller: %s: %w", name, c.noRoute(rt))
		}
		rt.lastOK.Store(time.Now().UnixNano())
		return nil
	default:
		c.forget(cid, p)
		rt.lastOK.Store(time.Now().UnixNano())
		return nil
	}
}

// passCancel passes the cancellation of call cid on, beside the caller,
// unless the caller is closed (Close waits only for those it can see).
func (c *Caller) passCancel(cid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.cancels.Go(func() { c.cancelRemote(cid) })
	}
}

// cancelRemote tells the workers that the call cid is cancelled, so that
// the one running it ends its handler's context (protocol.CancelExchange).
// It runs beside the caller, which returns at once; Close waits for it, up
// to its 5 s.
func (c *Caller) cancelRemote(cid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.req.Broadcast(ctx, protocol.CancelExchange, transport.Message{CorrelationID: cid}); err != nil {
		c.log.Debug("cannot pass a cancellation on", "correlation_id", cid, "error", err)
	}
}

// forget removes a call that will not wait for its reply, and recycles it
// once nothing can complete it any more.
func (c *Caller) forget(cid string, p *call) {
	c.mu.Lock()
	_, waiting := c.pending[cid]
	delete(c.pending, cid)
	c.mu.Unlock()
	if !waiting {
		<-p.done // completed concurrently: take the result so p is clean
	}
	calls.Put(p)
}

// routeID names a function: its kind and name.
type routeID struct{ kind, name string }

// route is what the caller keeps per function: its routing key, and when
// it last answered.
type route struct {
	key    string
	lastOK atomic.Int64 // unix ns
}

func (c *Caller) route(kind, name string) *route {
	if kind == "" {
		kind = c.cfg.Kind
	}
	id := routeID{kind, name} // a struct key: no string built per call
	c.routesMu.RLock()
	r, ok := c.routes[id]
	c.routesMu.RUnlock()
	if ok {
		return r
	}
	r = &route{key: protocol.RoutingKey(kind, name)}
	c.routesMu.Lock()
	if len(c.routes) < 4096 { // a bound against callers of ever-new names
		if prev, ok := c.routes[id]; ok {
			r = prev
		} else {
			c.routes[id] = r
		}
	}
	c.routesMu.Unlock()
	return r
}

// decode turns a reply into the result in out, or the remote error.
func (c *Caller) decode(name string, m *transport.Message, out any) error { // m: no copy of the result
	cc := c.body.Codec
	if m.ContentType != "" {
		if byType, ok := wire.ByContentType(m.ContentType); ok {
			cc = byType
		}
	}
	if m.TooLarge > 0 {
		return fmt.Errorf("caller: %s: reply: %w: %d bytes, over this caller's limit of %d (caller.Config.MaxBodySize); it was not read",
			name, wire.ErrTooLarge, m.TooLarge, c.body.MaxBodySize)
	}
	body, err := wire.Decompress(m.Body, c.body.MaxBodySize)
	if err != nil {
		return fmt.Errorf("caller: %s: reply: %w", name, err)
	}
	ok, res, message, err := wire.DecodeReply(cc, body)
	if err != nil {
		return fmt.Errorf("caller: %s: %w", name, err)
	}
	if !ok {
		re := &rabibridge.RemoteError{Code: rabibridge.CodeInternal, Message: message}
		if code := m.Headers[protocol.HeaderCode]; code != "" {
			re.Code = rabibridge.ParseCode(code)
		}
		re.Trace = m.Headers[protocol.HeaderTrace]
		return fmt.Errorf("caller: %s: %w", name, re)
	}
	if err := cc.UnmarshalShared(res, out); err != nil { // the body is the caller's own
		return mismatch(name, cc, res, out, err)
	}
	return nil
}

// mismatch is the error of a result that does not decode into out: what
// came, what was asked for, and what to check.
func mismatch(name string, cc wire.Codec, res []byte, out any, err error) error {
	want := reflect.TypeOf(out).Elem()
	var got any
	if cc.Unmarshal(res, &got) != nil {
		return fmt.Errorf("caller: %s: the result does not decode into %s: %w", name, want, err)
	}
	return fmt.Errorf("caller: %s: the result is %s, which does not decode into %s: "+
		"make Call's Resp type the type %s returns (%w)", name, describe(got), want, name, err)
}

// describe says what a generic value is, in a few words.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []byte:
		return "a byte string"
	case int64, uint64, json.Number:
		return "a number"
	case float64:
		return "a floating-point number"
	case []any:
		return fmt.Sprintf("an array of %d", len(v))
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 5 {
			keys = append(keys[:5], "…")
		}
		return "an object with " + strings.Join(keys, ", ")
	}
	return fmt.Sprintf("a %T", v)
}

// handler receives what comes back to the caller's requester.
type handler Caller

func (h *handler) complete(cid string, r result) {
	c := (*Caller)(h)
	c.mu.Lock()
	p := c.pending[cid]
	delete(c.pending, cid)
	var answers chan transport.Message
	if p == nil {
		answers = c.collect[cid] // a discovery answer
	}
	c.mu.Unlock()
	switch {
	case p != nil:
		p.done <- r
	case answers != nil && r.err == nil:
		select {
		case answers <- r.msg:
		default: // more answers than Discover holds: drop the rest
		}
	default:
		c.log.Debug("dropping a reply nobody waits for", "correlation_id", cid)
	}
}

func (h *handler) Reply(m transport.Message) { h.complete(m.CorrelationID, result{msg: m}) }

// MaxBodySize makes the handler a transport.BodyLimiter: a larger reply is not
// read into memory.
func (h *handler) MaxBodySize() int { return (*Caller)(h).body.MaxBodySize }

func (h *handler) Returned(cid string) { h.complete(cid, result{err: rabibridge.ErrNoSuchFunction}) }

// noRoute is the error of a call no queue took: ErrNoSuchFunction; and
// ErrConnectionLost too (so it is retryable) when the function answered this
// caller, or the caller lost its connection, within RecoveryWindow: a
// worker's auto-delete queue is gone while the worker reconnects.
func (c *Caller) noRoute(rt *route) error {
	now := time.Now().UnixNano()
	window := int64(RecoveryWindow)
	if at := c.lostAt.Load(); at != 0 && now-at < window {
		return fmt.Errorf("%w (%w a moment ago: its workers may still be reconnecting)",
			rabibridge.ErrNoSuchFunction, rabibridge.ErrConnectionLost)
	}
	if at := rt.lastOK.Load(); at != 0 && now-at < window {
		return fmt.Errorf("%w (it answered a moment ago: its workers may be reconnecting; %w)",
			rabibridge.ErrNoSuchFunction, rabibridge.ErrConnectionLost)
	}
	return rabibridge.ErrNoSuchFunction
}

// Recovered opens the recovery window again: the caller is back, and the
// workers' queues may not be.
func (h *handler) Recovered() { (*Caller)(h).lostAt.Store(time.Now().UnixNano()) }

func (h *handler) Lost(err error) {
	c := (*Caller)(h)
	c.lostAt.Store(time.Now().UnixNano())
	c.mu.Lock()
	pending := c.pending
	c.pending = map[string]*call{}
	c.mu.Unlock()
	for _, p := range pending {
		p.done <- result{err: fmt.Errorf("%w: %w", rabibridge.ErrConnectionLost, err)}
	}
}
