package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/codec"
	"github.com/rabibridge/rabibridge/internal/bufpool"
	"github.com/rabibridge/rabibridge/internal/entry"
	"github.com/rabibridge/rabibridge/internal/pause"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/registry"
)

// Defaults of Config.
const (
	// DefaultDrainTimeout bounds a drain when Config.DrainTimeout is zero.
	DefaultDrainTimeout = 30 * time.Second
)

// Config configures a Worker. The zero value is useful.
type Config struct {
	// Codec encodes replies to calls that name no codec (as Python
	// RabiBridge's do); nil means codec.Msgpack. Calls that name a codec in
	// their content type are answered in it.
	Codec codec.Codec
	// CompressThreshold is the reply size above which replies are
	// compressed with zstd; zero means 1024 bytes, as in RabiBridge;
	// negative turns compression off.
	CompressThreshold int
	// MaxBodySize limits a call's body after decompression; zero means
	// 16 MiB. A larger call gets an invalid_argument reply.
	MaxBodySize int
	// DrainTimeout bounds how long Serve waits, after its context ends, for
	// handlers in flight; then their contexts are cancelled and the calls
	// they did not finish go back to the queue. Zero means
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
	// IdleTimeout is how long a handler goroutine waits for another call
	// before it exits (one per consumer always stays); zero means
	// 30 s. Goroutines are reused while calls keep coming, so
	// their stacks stay grown.
	IdleTimeout time.Duration
	// Consumers is how many consumers (each its own channel, with the
	// function's FetchSize as prefetch) each function's queue gets; zero
	// means 1. More consumers spread one queue's deliveries over more
	// channels.
	Consumers int
	// Concurrency is how many handlers of a function run at once per
	// consumer; zero means the function's FetchSize (every call delivered
	// runs at once). A smaller value keeps the calls delivered beyond it
	// waiting in the worker; a Sync function runs one at a time always.
	Concurrency int
	// Interceptors wrap every function's handler, the first outermost: to
	// log, measure, trace, authorise, limit (see Limit). With none, a call
	// decodes, runs and encodes in one typed step; with some, the decoded
	// request passes through them as an any.
	Interceptors []rabibridge.Interceptor
	// ConsumerTimeout is the broker's consumer_timeout: how long it lets a
	// call go unacknowledged before it closes the channel and hands the
	// call to a worker again. Zero means DefaultConsumerTimeout
	// (RabbitMQ's default); negative means the broker has none. A handler's
	// context ends a tenth of it (at most a minute) before, so that a call
	// that would overrun fails with CodeDeadlineExceeded, saying so,
	// instead of being run again and again.
	ConsumerTimeout time.Duration
	// Logger receives the worker's log lines; nil means the connection's.
	Logger *slog.Logger
}

// DefaultConsumerTimeout is RabbitMQ's default consumer_timeout.
const DefaultConsumerTimeout = 30 * time.Minute

// Worker serves the functions of a registry on a connection.
type Worker struct {
	body    wire.Settings // cfg's codec and body limits, resolved
	conn    *transport.Conn
	reg     *registry.Registry
	cfg     Config
	log     *slog.Logger
	started atomic.Bool

	ready     chan struct{} // closed once serving, or once Serve failed before that
	readyOnce sync.Once
	errMu     sync.Mutex
	err       error // what Serve returned; guarded by errMu

	id        string
	startedAt time.Time
	mu        sync.Mutex
	functions []*function // guarded by mu

	draining atomic.Bool // Serve's ctx has ended: not ready any more
	over     atomic.Bool // Serve has returned

	lifeMu  sync.Mutex // guards what Start and Shutdown share
	stop    context.CancelFunc
	serving chan struct{} // closed when the Serve that Start began has returned
	drainBy atomic.Int64  // unix ns: Shutdown's deadline, 0 without one

	calls   callTable      // the calls under way, for their callers' cancellations
	gathers sync.WaitGroup // gathered calls under way (caller.Gather)

	// recycle: the transport is done with a reply's body when Reply
	// returns (transport.Conn.CopiesBodies), so a large one goes back to the
	// pool.
	recycle bool
	// maxMessage is the largest body the broker takes.
	maxMessage int
	// stopBy is how long a handler may run before its context ends, for
	// the broker's consumer timeout; 0: no limit.
	stopBy time.Duration
}

// New returns a worker that serves the functions registered in reg (nil
// means registry.Default) on conn.
func New(conn *bridge.Conn, reg *registry.Registry, cfg Config) *Worker {
	if reg == nil {
		reg = registry.Default
	}
	t := transport.Of(conn)
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = t.Logger()
	}
	if cfg.ConsumerTimeout == 0 {
		cfg.ConsumerTimeout = DefaultConsumerTimeout
	}
	var stopBy time.Duration
	if cfg.ConsumerTimeout > 0 {
		stopBy = cfg.ConsumerTimeout - min(cfg.ConsumerTimeout/10, time.Minute)
	}
	return &Worker{body: wire.Resolve(cfg.Codec, cfg.CompressThreshold, cfg.MaxBodySize), stopBy: stopBy, conn: t, reg: reg, cfg: cfg, log: log, ready: make(chan struct{}), id: newID(), recycle: t.CopiesBodies(), maxMessage: t.MaxMessageSize()}
}

// function is a registered function as the worker serves it, resolved once.
type function struct {
	entry *entry.Entry
	name  string
	one   *sync.Mutex // for Sync functions: one call at a time
	stats stats
	chain rabibridge.Next // the interceptors around the handler; nil without any

	expired  atomic.Int64             // calls expired on arrival since the last warning
	warnedAt atomic.Int64             // unix ns of that warning
	refusing atomic.Bool              // the drain is ending: answer calls without running them
	subs     []transport.Subscription // its consumers; guarded by the worker's mu

	queue         string // its queue's name
	deadQueue     string // its dead letters' queue, with dead letters on
	maxDeliveries int    // with dead letters on: see registry.Options.MaxDeliveries; 0: off
}

// Serve declares the queue of every function in the registry, consumes them
// and serves calls until ctx ends; then it drains: it stops consuming, lets
// the handlers in flight finish (up to DrainTimeout), publishes their
// replies, and returns the calls it did not finish to their queues. Serve
// returns nil after a complete drain, and an error when a queue cannot be
// declared or consumed (naming the function and the fix), when a
// subscription ends while serving, or when the drain timed out. A Worker
// serves once.
func (w *Worker) Serve(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("worker: Serve called twice")
	}
	err := w.serve(ctx)
	w.errMu.Lock()
	w.err = err
	w.errMu.Unlock()
	w.over.Store(true)
	w.markReady() // a Serve that failed to start must not leave Ready open
	return err
}

func (w *Worker) markReady() { w.readyOnce.Do(func() { close(w.ready) }) }

func (w *Worker) serve(ctx context.Context) error {
	w.startedAt = time.Now()
	entries := entry.Of(w.reg).Entries()
	if len(entries) == 0 {
		return errors.New("worker: the registry has no functions: register some before Serve")
	}
	// Handlers outlive Serve's ctx by the drain; base ends when the drain
	// gives up on them.
	base, stopHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHandlers()

	var subs []running
	for _, e := range entries {
		rs, err := w.start(ctx, base, e)
		subs = append(subs, rs...)
		if err != nil {
			for _, r := range subs {
				r.sub.Close()
			}
			return fmt.Errorf("worker: %s: %w", e.Name(), err)
		}
	}
	listeners := w.listen(ctx, base)
	w.log.Info("worker serving", "functions", len(entries), "id", w.id)
	w.markReady()

	serveErr := waitEnd(ctx, subs)
	w.draining.Store(true)
	// The drain ends by DrainTimeout, and what it closes a second later,
	// whatever the broker does (a memory alarm, a stalled path, a node
	// that does not answer).
	deadline := w.drainDeadline()
	bound := deadline.Add(time.Second)
	serveErr = errors.Join(serveErr, w.drain(subs, deadline, bound, stopHandlers))
	for _, l := range listeners {
		l.CloseBy(bound)
	}
	w.waitGathers(stopHandlers, deadline)
	w.log.Info("worker drained")
	return serveErr
}

// start declares e's queue and consumes it; it returns the consumers it
// started, also when it fails part way.
func (w *Worker) start(ctx, base context.Context, e *entry.Entry) ([]running, error) {
	o := e.Function
	q := transport.Queue{
		Name:       protocol.QueueName(o.Kind, o.Name),
		RoutingKey: protocol.RoutingKey(o.Kind, o.Name),
		MaxLength:  o.QueueSize,
		MessageTTL: e.Timeout,
		Redeclare:  e.ReRegister,
		Quorum:     o.QueueType == string(registry.Quorum),
	}
	if err := w.conn.Declare(ctx, q); err != nil {
		return nil, err
	}
	f := w.function(e)
	f.queue = q.Name
	if o.MaxDeliveries > 0 {
		f.deadQueue, f.maxDeliveries = protocol.DeadQueueName(o.Kind, o.Name), o.MaxDeliveries
	}
	co := transport.ConsumeOptions{Prefetch: o.FetchSize, Concurrency: w.cfg.Concurrency, IdleTimeout: w.cfg.IdleTimeout,
		MaxBodySize: w.body.MaxBodySize}
	consumers := max(w.cfg.Consumers, 1)
	if o.Kind == string(registry.Sync) {
		f.one, co.Prefetch, co.Concurrency, consumers = new(sync.Mutex), 1, 1, 1
	}
	var rs []running
	for range consumers {
		// The handler runs on the subscription's goroutine that took the
		// call: no hand-over between the transport and the handler.
		sub, err := w.conn.Consume(ctx, q.Name, co, func(d *transport.Delivery) { w.handle(base, f, d) })
		if err != nil {
			return rs, err
		}
		rs = append(rs, running{f: f, q: q, sub: sub})
		w.mu.Lock()
		f.subs = append(f.subs, sub)
		w.mu.Unlock()
	}
	return rs, nil
}

// function resolves e as the worker serves it, its middleware chain built
// once, and records it.
func (w *Worker) function(e *entry.Entry) *function {
	f := &function{entry: e, name: e.Name()}
	if len(w.cfg.Interceptors) > 0 {
		f.chain = func(ctx context.Context, call *rabibridge.Call) (err error) {
			call.Response, err = e.Invoke(ctx, call.Request)
			return err
		}
		for i := len(w.cfg.Interceptors) - 1; i >= 0; i-- {
			f.chain = w.cfg.Interceptors[i](f.chain)
		}
	}
	w.mu.Lock()
	w.functions = append(w.functions, f)
	w.mu.Unlock()
	return f
}

// listen answers discovery and takes callers' cancellations. Both are
// optional: a worker serves without them.
func (w *Worker) listen(ctx, base context.Context) []transport.Subscription {
	var ls []transport.Subscription
	if disc, err := w.conn.Listen(ctx, protocol.DiscoveryExchange, func(m transport.Message) { w.answer(base, m) }); err != nil {
		w.log.Warn("not answering discovery", "error", err)
	} else {
		ls = append(ls, disc)
	}
	if cancels, err := w.conn.Listen(ctx, protocol.CancelExchange, w.cancelCall); err != nil {
		w.log.Warn("not taking callers' cancellations: a cancelled call runs on", "error", err)
	} else {
		ls = append(ls, cancels)
	}
	return ls
}

// waitGathers waits for the gathered calls under way, up to the drain's
// deadline, then ends their handlers' contexts and waits for them to
// return.
func (w *Worker) waitGathers(stopHandlers context.CancelFunc, deadline time.Time) {
	done := make(chan struct{})
	go func() { w.gathers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		stopHandlers()
		<-done
	}
}

// waitEnd waits until ctx ends (nil) or a subscription ends (an error).
func waitEnd(ctx context.Context, subs []running) error {
	ended := make(chan string, len(subs))
	stop := make(chan struct{})
	defer close(stop)
	for _, r := range subs {
		go func() {
			select {
			case <-r.sub.Done():
				ended <- r.f.name
			case <-stop:
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case name := <-ended:
		return fmt.Errorf("worker: %s: subscription ended: %w", name, rabibridge.ErrConnectionLost)
	}
}

// running is one consumer of a function's queue.
type running struct {
	f   *function
	q   transport.Queue
	sub transport.Subscription
}

// drain stops consuming, lets the handlers in flight finish (up to
// DrainTimeout), publishes their replies, and returns the calls it did not
// finish to their queues.
//
// RabiBridge's queues are auto-delete: one goes, with the calls waiting in
// it, when its last consumer leaves. So a worker leaves such a queue only
// once it is empty (see empty); workers stopping together each serve their
// share of it first.
func (w *Worker) drain(subs []running, deadline, bound time.Time, stopHandlers func()) error {
	byFunction := map[*function][]running{}
	var order []*function
	for _, r := range subs {
		if byFunction[r.f] == nil {
			order = append(order, r.f)
		}
		byFunction[r.f] = append(byFunction[r.f], r)
	}
	var errs []error
	for _, f := range order { // quorum queues outlive their consumers: leave them at once
		if rs := byFunction[f]; !rs[0].q.AutoDelete() {
			errs = append(errs, cancelAll(rs, deadline)...)
		}
	}
	for _, f := range order {
		if rs := byFunction[f]; rs[0].q.AutoDelete() {
			errs = append(errs, w.empty(f, rs[0].q, len(rs), deadline))
			errs = append(errs, cancelAll(rs, deadline)...)
		}
	}
	errs = append(errs, w.finish(subs, deadline, bound, stopHandlers)...)
	return errors.Join(errs...)
}

// cancelAll cancels the consumers rs, by the drain's deadline.
func cancelAll(rs []running, deadline time.Time) []error {
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.sub.CancelBy(deadline))
	}
	return errs
}

// finish waits for the handlers under way, up to deadline (then cancels
// them, and gives them half of the second to bound to reply), and closes
// the subscriptions by bound: the replies that cannot go out by then (the
// broker blocks the connection, the path to it is stalled) are abandoned,
// their calls left unacknowledged for the broker to give back.
func (w *Worker) finish(subs []running, deadline, bound time.Time, stopHandlers func()) []error {
	wait := func(ctx context.Context) error {
		for _, r := range subs {
			if err := r.sub.Wait(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	var errs []error
	// Handlers that just answered still need a moment to return.
	ctx, cancel := context.WithDeadline(context.Background(), later(deadline, time.Now().Add(250*time.Millisecond)))
	err := wait(ctx)
	cancel()
	if err != nil {
		n := w.inFlight()
		stopHandlers()
		ctx, cancel := context.WithDeadline(context.Background(), bound.Add(-bound.Sub(deadline)/2)) // for cancelled handlers to reply
		_ = wait(ctx)
		cancel()
		errs = append(errs, fmt.Errorf("worker: drain timed out (DrainTimeout %v, or the deadline Shutdown was given) with %d calls in flight", w.cfg.DrainTimeout, n))
	}
	for _, r := range subs {
		r.sub.Abandon()
	}
	for _, r := range subs {
		errs = append(errs, r.sub.CloseBy(bound)) // what was not finished goes back to its queue
	}
	return errs
}

// empty serves f's auto-delete queue q, of which this worker has ours
// consumers, until it is empty. While other consumers remain, that is all:
// the queue goes on with them. Once this worker's are the last (at once,
// or when the others have left), it unbinds q, so that new calls come back
// to their callers as missing (retryable while they recover) instead of
// queueing, and from a fifth of the drain time (200 ms to a second) before
// the deadline f answers what is still queued at once with a retryable
// CodeUnavailable instead of running it, so that none stays behind
// unanswered.
func (w *Worker) empty(f *function, q transport.Queue, ours int, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	defer f.refusing.Store(false)
	refuseAt := deadline.Add(-min(max(w.cfg.DrainTimeout/5, 200*time.Millisecond), time.Second))
	unbound := false
	for idle := 0; idle < 2; {
		st, err := w.conn.Inspect(ctx, q.Name)
		if err != nil {
			return fmt.Errorf("worker: %s: waiting for its queue to empty: %w", f.name, err)
		}
		last := st.Consumers <= ours
		if last && !unbound {
			if err := w.conn.Unbind(ctx, q); err != nil {
				return fmt.Errorf("worker: %s: %w", f.name, err)
			}
			unbound = true
		}
		if last && !f.refusing.Load() && time.Now().After(refuseAt) {
			refuser, err := w.refuse(ctx, f, q)
			if err != nil {
				return err
			}
			defer refuser.CloseBy(deadline.Add(time.Second))
			ours++
		}
		// Empty, and, when last, no handler under way that could give its
		// call back (the drain's wait sees to those once f refuses): twice,
		// a moment apart, as a call in transit may land meanwhile.
		if st.Messages == 0 && (!last || f.stats.inFlight.Load() == 0 || f.refusing.Load()) {
			idle++
		} else {
			idle = 0
		}
		if !pause.For(ctx, 20*time.Millisecond) {
			if st.Messages == 0 {
				return nil // the handlers under way are the drain's wait's
			}
			return fmt.Errorf("worker: %s: %d calls still queued at the end of the drain", f.name, st.Messages)
		}
	}
	return nil
}

// refuse makes f answer its calls at once with CodeUnavailable, and adds a
// consumer that takes the calls still queued with a large prefetch, so that
// they need not wait for the handlers under way to free the others'.
func (w *Worker) refuse(ctx context.Context, f *function, q transport.Queue) (transport.Subscription, error) {
	f.refusing.Store(true)
	w.log.Warn("drain time running out: answering the calls still queued as unavailable", "function", f.name)
	sub, err := w.conn.Consume(ctx, q.Name, transport.ConsumeOptions{Prefetch: 256, Concurrency: 16},
		func(d *transport.Delivery) { w.handle(ctx, f, d) })
	if err != nil {
		return nil, fmt.Errorf("worker: %s: answering the calls still queued: %w", f.name, err)
	}
	return sub, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// cancelCall ends the context of the call a caller cancelled, if it runs
// here, or when it does.
func (w *Worker) cancelCall(m transport.Message) {
	if cc := w.calls.cancel(callKey{m.ReplyTo, m.CorrelationID}); cc != nil {
		w.log.Debug("the caller cancelled a call", "function", cc.info.Function, "correlation_id", m.CorrelationID)
	}
}

// inFlight is how many handlers are running.
func (w *Worker) inFlight() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	for _, f := range w.functions {
		n += f.stats.inFlight.Load()
	}
	return n
}

// Ready is closed once Serve consumes the queue of every function, from
// when calls reach this worker, or once Serve returns without getting
// there. Err tells the two apart:
//
//	go w.Serve(ctx)
//	<-w.Ready()
//	if err := w.Err(); err != nil {
//		return err // Serve failed to start: a queue could not be declared, ...
//	}
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// Err returns the error Serve returned, or nil while Serve runs (or has
// not been called) and after a clean drain. Read after Ready is closed, a
// non-nil Err means Serve failed before serving.
func (w *Worker) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

type infoKey struct{}

// Info describes the call a handler is running.
type Info struct {
	// Function is the function's name.
	Function string
	// CorrelationID is the call's correlation id.
	CorrelationID string
	// Redelivered is true when the call was delivered before and not
	// acknowledged (a worker died mid-call): make such handlers idempotent.
	Redelivered bool
	// Deadline is when the caller stops waiting; zero when it did not say
	// (calls from Python RabiBridge).
	Deadline time.Time
}

// InfoFrom returns the Info of the call whose handler got ctx.
func InfoFrom(ctx context.Context) (Info, bool) {
	i, ok := ctx.Value(infoKey{}).(*Info)
	if !ok {
		return Info{}, false
	}
	return *i, true
}

func (w *Worker) handle(base context.Context, f *function, d *transport.Delivery) {
	if d.ReplyTo == "" || d.CorrelationID == "" {
		w.log.Warn("dropping a call without reply address or correlation id", "function", f.name)
		d.Ack()
		return
	}
	if f.maxDeliveries > 0 && w.poison(base, f, d) {
		return
	}
	c, out, took, err := w.call(base, f, d)
	if d.ReplyTo == protocol.NoReply { // caller.Send: nobody waits for a reply
		w.sentCall(base, f, d, err, took)
		if w.recycle {
			bufpool.Put(out)
		}
		return
	}
	reply := w.reply(base, f, d, c, out, err, took)
	if f.maxDeliveries > 0 && rabibridge.CodeOf(err) == rabibridge.CodeInvalidArgument {
		w.bury(base, f, d, protocol.DeadMalformed, err) // its caller hears of it too
	}
	// The reply goes out even past the deadline: a caller whose clock is
	// behind this worker's still waits for it, and one that left drops it.
	// The reply, then the ack; if the reply cannot be published the call
	// goes back to the queue, so another worker (or this one, reconnected)
	// answers it.
	if err := d.Reply(reply); err != nil {
		w.log.Error("publishing a reply", "function", f.name, "correlation_id", d.CorrelationID, "error", err)
	}
	if w.recycle {
		bufpool.Put(out) // the encoded result, made for this reply alone
	}
}

// call runs call d of f as every call runs, from its queue or gathered
// (caller.Gather): it answers at once a call past its deadline, one too
// large to read and one that comes as the drain runs out, else runs the
// handler; it counts the call in f's statistics. It returns the codec of
// the reply, and the encoded result or the error.
func (w *Worker) call(base context.Context, f *function, d *transport.Delivery) (c wire.Codec, out []byte, took time.Duration, err error) {
	start := time.Now()
	c = w.body.Codec
	if d.ContentType != "" {
		if cc, ok := wire.ByContentType(d.ContentType); ok {
			c = cc
		}
	}
	switch {
	case !d.Deadline.IsZero() && start.After(d.Deadline):
		err = w.expired(f, d, start)
	case d.TooLarge > 0:
		err = rabibridge.Errorf(rabibridge.CodeInvalidArgument,
			"%s: the call is %d bytes, over this worker's limit of %d (worker.Config.MaxBodySize); it was not read", f.name, d.TooLarge, w.body.MaxBodySize)
	case f.refusing.Load():
		err = rabibridge.Errorf(rabibridge.CodeUnavailable,
			"%s: the worker is stopping and its drain time ran out before this call: retry", f.name)
	default:
		f.stats.inFlight.Add(1)
		out, err = w.run(base, f, c, d, start)
		f.stats.inFlight.Add(-1)
	}
	took = time.Since(start)
	f.stats.observe(took, rabibridge.CodeOf(err))
	return c, out, took, err
}

// reply is the reply to call d of f: its result out, or its error err.
func (w *Worker) reply(ctx context.Context, f *function, d *transport.Delivery, c wire.Codec, out []byte, err error, took time.Duration) transport.Message {
	var reply transport.Message
	if d.ContentType == "" {
		reply.ContentType = c.ContentType() // else the reply is in the codec the call named
	}
	if err != nil {
		re := remote(err)
		reply.Body = wire.AppendErrorReply(c, nil, re.Message)
		reply.Headers = map[string]string{protocol.HeaderCode: string(re.Code)}
		if re.Trace != "" {
			reply.Headers[protocol.HeaderTrace] = re.Trace
		}
		level := slog.LevelDebug
		if re.Code == rabibridge.CodeInternal {
			level = slog.LevelWarn
		}
		w.log.Log(ctx, level, "call failed", "function", f.name, "correlation_id", d.CorrelationID,
			"code", string(re.Code), "error", re.Message, "duration", took)
		return reply
	}
	reply.Body = wire.Compress(out, w.body.CompressThreshold)
	if len(reply.Body) > w.maxMessage {
		reply = w.tooLarge(f, d, c, len(reply.Body))
	}
	return reply
}

// sentCall ends a call that wants no reply (caller.Send): it acknowledges
// the call, and logs a failure, which no caller will see, as a warning.
func (w *Worker) sentCall(ctx context.Context, f *function, d *transport.Delivery, err error, took time.Duration) {
	if err != nil && f.maxDeliveries > 0 {
		why := protocol.DeadFailed
		if rabibridge.CodeOf(err) == rabibridge.CodeInvalidArgument {
			why = protocol.DeadMalformed
		}
		if w.bury(ctx, f, d, why, err) != nil {
			d.Nack(true) // kept in its queue, rather than lost
			return
		}
	} else if err != nil {
		re := remote(err)
		w.log.Log(ctx, slog.LevelWarn, "call failed, and its caller wants no reply", "function", f.name,
			"correlation_id", d.CorrelationID, "code", string(re.Code), "error", re.Message, "duration", took)
	}
	if err := d.Ack(); err != nil {
		w.log.Error("acknowledging a call", "function", f.name, "correlation_id", d.CorrelationID, "error", err)
	}
}

// overran is the error of a handler stopped near the broker's consumer
// timeout.
func (w *Worker) overran(f *function, err error) error {
	return rabibridge.Errorf(rabibridge.CodeDeadlineExceeded,
		"%s: stopped after %v, near the broker's consumer_timeout (worker.Config.ConsumerTimeout, %v): "+
			"past it the broker would take the call back and hand it to a worker again, over and over; "+
			"make the call shorter, or raise both (%v)", f.name, w.stopBy, w.cfg.ConsumerTimeout, err)
}

// tooLarge is the reply to a call whose result, n bytes, is over the
// broker's limit: sent, the broker would close the channel, and the calls
// on it would be lost with it.
func (w *Worker) tooLarge(f *function, d *transport.Delivery, c wire.Codec, n int) transport.Message {
	msg := fmt.Sprintf("%s: the reply is %d bytes, over the broker's limit of %d "+
		"(its max_message_size, as bridge.Config.MaxMessageSize says): return less", f.name, n, w.maxMessage)
	w.log.Warn("reply too large", "function", f.name, "correlation_id", d.CorrelationID, "size", n, "limit", w.maxMessage)
	var reply transport.Message
	if d.ContentType == "" {
		reply.ContentType = c.ContentType()
	}
	reply.Body = wire.AppendErrorReply(c, nil, msg)
	reply.Headers = map[string]string{protocol.HeaderCode: string(rabibridge.CodeFailedPrecondition)}
	return reply
}

// expired is the error of a call whose deadline passed before it started
// here: it is not run. Deadlines are wall-clock times, so a caller whose
// clock is behind this worker's by more than its timeout sees all its calls
// expire; the warning, at most one a second per function, says so.
func (w *Worker) expired(f *function, d *transport.Delivery, now time.Time) error {
	late := now.Sub(d.Deadline).Round(time.Millisecond)
	if n := f.expired.Add(1); w.warnDue(f, now) {
		w.log.Warn("calls expired before they started: their callers stopped waiting, or their clocks are behind this worker's",
			"function", f.name, "correlation_id", d.CorrelationID, "late", late, "expired_since_last_warning", n)
		f.expired.Store(0)
	}
	return rabibridge.Errorf(rabibridge.CodeDeadlineExceeded,
		"%s: the call's deadline passed %v before it started on this worker (check that the caller's and the worker's clocks agree)", f.name, late)
}

// warnDue reports whether a second has passed since f's last warning of
// expired calls, and if so starts the next second.
func (w *Worker) warnDue(f *function, now time.Time) bool {
	last := f.warnedAt.Load()
	return now.UnixNano()-last >= int64(time.Second) && f.warnedAt.CompareAndSwap(last, now.UnixNano())
}

// run decodes the call and runs its handler, turning a panic into an
// internal error.
func (w *Worker) run(base context.Context, f *function, c wire.Codec, d *transport.Delivery, start time.Time) (out []byte, err error) {
	body, err := wire.Decompress(d.Body, w.body.MaxBodySize)
	if err != nil {
		return nil, rabibridge.Errorf(rabibridge.CodeInvalidArgument, "%s: %v", f.name, err)
	}
	req, err := wire.DecodeRequest(c, body)
	if err != nil {
		return nil, rabibridge.Errorf(rabibridge.CodeInvalidArgument, "%s: %v", f.name, err)
	}
	cc := &callCtx{Context: base, info: Info{Function: f.name, CorrelationID: d.CorrelationID, Redelivered: d.Redelivered, Deadline: d.Deadline}}
	cc.deadline, cc.calls, cc.call, cc.worker = d.Deadline, &w.calls, d, w
	if w.stopBy > 0 {
		if limit := start.Add(w.stopBy); cc.deadline.IsZero() || limit.Before(cc.deadline) {
			cc.deadline = limit
			defer func() {
				if err != nil && !time.Now().Before(limit) {
					err = w.overran(f, err)
				}
			}()
		}
	}
	defer cc.finish()
	var ctx context.Context = cc
	if f.one != nil {
		f.one.Lock()
		defer f.one.Unlock()
	}
	defer func() {
		if p := recover(); p != nil {
			out = nil
			err = &rabibridge.RemoteError{Code: rabibridge.CodeInternal,
				Message: fmt.Sprintf("%s: panic: %v", f.name, p), Trace: trim(string(debug.Stack()), 4096)}
		}
	}()
	if f.chain == nil {
		return f.entry.Handle(ctx, c, req, nil)
	}
	in, err := f.entry.Decode(c, req)
	if err != nil {
		return nil, err
	}
	call := &rabibridge.Call{Function: f.name, Worker: true, Headers: d.Headers, Request: in}
	if err := f.chain(ctx, call); err != nil {
		return nil, err
	}
	out, err = wire.AppendReply(c, nil, call.Response)
	if err != nil {
		return nil, rabibridge.Errorf(rabibridge.CodeInternal, "%s: encoding the response: %v", f.name, err)
	}
	return out, nil
}

// remote returns err as the RemoteError the caller will see.
func remote(err error) *rabibridge.RemoteError {
	var re *rabibridge.RemoteError
	if errors.As(err, &re) {
		return re
	}
	return &rabibridge.RemoteError{Code: rabibridge.CodeOf(err), Message: err.Error()}
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
