package transport

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/protocol"
)

// The in-process broker: queues, bindings and reply addresses in memory,
// with RabbitMQ's observable semantics for the RabiBridge topology.

var memBrokers = struct {
	sync.Mutex
	m map[string]*memBroker
}{m: map[string]*memBroker{}}

type memBroker struct {
	name string
	refs int // connections; guarded by memBrokers

	mu      sync.RWMutex
	queues  map[string]*memQueue // by name
	routes  map[string]*memQueue // by routing key
	replies map[string]ReplyHandler
	fanouts map[string]map[*memListener]struct{} // by exchange
	next    uint64
}

type memTransport struct {
	b *memBroker

	mu     sync.Mutex
	closed bool
	subs   map[*memSub]struct{}
	reqs   map[*memRequester]struct{}
}

func dialMem(name string) *memTransport {
	memBrokers.Lock()
	defer memBrokers.Unlock()
	b := memBrokers.m[name]
	if b == nil {
		b = &memBroker{name: name, queues: map[string]*memQueue{}, routes: map[string]*memQueue{}, replies: map[string]ReplyHandler{},
			fanouts: map[string]map[*memListener]struct{}{}}
		memBrokers.m[name] = b
	}
	b.refs++
	return &memTransport{b: b, subs: map[*memSub]struct{}{}, reqs: map[*memRequester]struct{}{}}
}

func (t *memTransport) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errClosed
	}
	return nil
}

func (t *memTransport) declare(ctx context.Context, q Queue) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if old := b.queues[q.Name]; old != nil {
		if !q.Redeclare {
			if old.q.MaxLength == q.MaxLength && old.q.MessageTTL.Milliseconds() == q.MessageTTL.Milliseconds() && old.q.Quorum == q.Quorum {
				b.routes[q.RoutingKey] = old
				return nil
			}
			return &MismatchError{Queue: q.Name, Have: old.q.Args(), Want: q.Args()}
		}
		b.deleteLocked(old)
	}
	nq := &memQueue{b: b, q: q}
	b.queues[q.Name] = nq
	b.routes[q.RoutingKey] = nq
	return nil
}

func (t *memTransport) deleteQueue(ctx context.Context, name string) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	if q := t.b.queues[name]; q != nil {
		t.b.deleteLocked(q)
	}
	return nil
}

func (t *memTransport) inspect(ctx context.Context, name string) (QueueState, error) {
	if err := t.check(ctx); err != nil {
		return QueueState{}, err
	}
	t.b.mu.RLock()
	q := t.b.queues[name]
	t.b.mu.RUnlock()
	if q == nil {
		return QueueState{}, fmt.Errorf("bridge: inspecting queue %s: %w", name, ErrNoQueue)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return QueueState{Messages: q.len(), Consumers: len(q.subs)}, nil
}

func (t *memTransport) unbind(ctx context.Context, q Queue) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	if r := t.b.routes[q.RoutingKey]; r != nil && r.q.Name == q.Name {
		delete(t.b.routes, q.RoutingKey)
	}
	return nil
}

// deleteLocked deletes q: its messages are dropped and its consumers end.
func (b *memBroker) deleteLocked(q *memQueue) {
	if b.queues[q.q.Name] == q {
		delete(b.queues, q.q.Name)
	}
	for k, r := range b.routes {
		if r == q {
			delete(b.routes, k)
		}
	}
	q.mu.Lock()
	q.deleted = true
	q.ready, q.head = nil, 0
	subs := q.subs
	q.subs = nil
	for _, s := range subs {
		s.cancelled = true
		s.finish()
	}
	q.mu.Unlock()
}

type memMsg struct {
	m           Message
	expires     time.Time
	redelivered bool
}

// requeued returns the message of d as it goes back to its queue.
func (d *Delivery) requeued() memMsg {
	return memMsg{m: d.Message, expires: d.expires, redelivered: true}
}

// memQueue is a function's queue. Calls are handed to a consumer with spare
// prefetch directly by whatever made that possible (a publish, an ack, a new
// consumer), so a call on an idle queue costs no goroutine switch.
type memQueue struct {
	b *memBroker
	q Queue

	mu          sync.Mutex
	ready       []memMsg // FIFO from head
	head        int
	subs        []*memSub
	rr          int // round-robin position in subs
	hadConsumer bool
	deleted     bool
}

func (q *memQueue) len() int { return len(q.ready) - q.head }

func (q *memQueue) push(m memMsg) { q.ready = append(q.ready, m) }

func (q *memQueue) pushFront(m memMsg) {
	if q.head > 0 {
		q.head--
		q.ready[q.head] = m
		return
	}
	q.ready = append(q.ready, memMsg{})
	copy(q.ready[1:], q.ready)
	q.ready[0] = m
}

func (q *memQueue) pop() memMsg {
	m := q.ready[q.head]
	q.ready[q.head] = memMsg{}
	q.head++
	if q.head == len(q.ready) {
		q.ready, q.head = q.ready[:0], 0
	} else if q.head > 64 && q.head > len(q.ready)/2 {
		n := copy(q.ready, q.ready[q.head:])
		clear(q.ready[n:])
		q.ready, q.head = q.ready[:n], 0
	}
	return m
}

// nextLocked takes the next live call for a consumer with spare prefetch,
// or returns nil when there is none or no such consumer.
func (q *memQueue) nextLocked() (*memSub, *Delivery) {
	for q.len() > 0 && !q.deleted {
		var s *memSub
		for i := range q.subs {
			c := q.subs[(q.rr+i)%len(q.subs)]
			if c.prefetch == 0 || len(c.unacked) < c.prefetch {
				s = c
				q.rr = (q.rr + i + 1) % len(q.subs)
				break
			}
		}
		if s == nil {
			return nil, nil
		}
		m := q.pop()
		if !m.expires.IsZero() && time.Now().After(m.expires) {
			continue // dead: its TTL or its caller's deadline passed
		}
		s.tag++
		d := &Delivery{Message: m.m, Redelivered: m.redelivered, acker: s, tag: s.tag, expires: m.expires}
		s.unacked[s.tag] = d
		s.handing.Add(1)
		return s, d
	}
	return nil, nil
}

// pump hands out calls while consumers can take them.
func (q *memQueue) pump() {
	for {
		q.mu.Lock()
		s, d := q.nextLocked()
		q.mu.Unlock()
		if s == nil {
			return
		}
		s.inbox <- d // never blocks with a prefetch: at most that many are out
		s.handing.Done()
	}
}

func (t *memTransport) consume(ctx context.Context, queue string, o ConsumeOptions, h func(*Delivery)) (Subscription, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	t.b.mu.RLock()
	q := t.b.queues[queue]
	t.b.mu.RUnlock()
	if q == nil {
		return nil, fmt.Errorf("bridge: queue %s not found: declare it first", queue)
	}
	s := &memSub{t: t, q: q, prefetch: o.Prefetch, unacked: map[uint64]*Delivery{}, done: make(chan struct{}),
		inbox: make(chan *Delivery, cmp.Or(o.Prefetch, 1024))}
	serve(o, &s.live, h, source[*Delivery]{ch: s.inbox, stop: s.done, conv: func(d *Delivery) *Delivery { return d }})
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, fmt.Errorf("bridge: queue %s not found: it was deleted", queue)
	}
	q.subs = append(q.subs, s)
	q.hadConsumer = true
	q.mu.Unlock()
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	q.pump()
	return s, nil
}

// memSub is a consumer. Whatever made a call deliverable (a publish, an
// ack, a new consumer) puts it in the inbox, and the subscription's handler
// goroutines take it from there.
type memSub struct {
	t        *memTransport
	q        *memQueue
	prefetch int
	inbox    chan *Delivery
	handing  sync.WaitGroup // hand-overs to the inbox under way
	live     live           // its handler goroutines

	// guarded by q.mu
	unacked   map[uint64]*Delivery
	tag       uint64
	cancelled bool
	closed    bool

	done chan struct{}
}

// finish marks s closed and ends it; q.mu must be held.
func (s *memSub) finish() {
	if s.closed {
		return
	}
	s.closed = true
	clear(s.unacked)
	close(s.done)
}

func (s *memSub) ack(tag uint64) error {
	q := s.q
	q.mu.Lock()
	if _, ok := s.unacked[tag]; !ok {
		q.mu.Unlock()
		return fmt.Errorf("bridge: ack of unknown delivery tag %d (acknowledged twice, or the subscription was closed)", tag)
	}
	delete(s.unacked, tag)
	q.mu.Unlock()
	q.pump()
	return nil
}

func (s *memSub) reply(d *Delivery, m Message) error {
	if err := s.t.reply(context.Background(), m); err != nil {
		s.nack(d.tag, true)
		return err
	}
	return s.ack(d.tag)
}

func (s *memSub) nack(tag uint64, requeue bool) error {
	q := s.q
	q.mu.Lock()
	d, ok := s.unacked[tag]
	if !ok {
		q.mu.Unlock()
		return fmt.Errorf("bridge: nack of unknown delivery tag %d", tag)
	}
	delete(s.unacked, tag)
	if requeue && !q.deleted {
		q.pushFront(d.requeued())
	}
	q.mu.Unlock()
	q.pump()
	return nil
}

// Cancel stops deliveries and waits for any hand-over under way; the calls
// already in the inbox still reach h. The last consumer of an auto-delete
// queue leaving deletes it, as RabbitMQ does.
func (s *memSub) Cancel() error {
	q := s.q
	q.mu.Lock()
	if s.cancelled {
		q.mu.Unlock()
		return nil
	}
	s.cancelled = true
	q.subs = slices.DeleteFunc(q.subs, func(c *memSub) bool { return c == s })
	last := len(q.subs) == 0 && !q.deleted && q.q.AutoDelete()
	q.mu.Unlock()
	s.handing.Wait()
	close(s.inbox)
	if last {
		q.b.mu.Lock()
		q.mu.Lock()
		still := len(q.subs) == 0
		q.mu.Unlock()
		if still {
			q.b.deleteLocked(q)
		}
		q.b.mu.Unlock()
	}
	return nil
}

func (s *memSub) Close() error {
	s.Cancel()
	q := s.q
	q.mu.Lock()
	if s.closed {
		q.mu.Unlock()
		return nil
	}
	if !q.deleted {
		for _, d := range s.unacked {
			q.pushFront(d.requeued())
		}
	}
	s.finish()
	q.mu.Unlock()
	s.t.mu.Lock()
	delete(s.t.subs, s)
	s.t.mu.Unlock()
	q.pump() // another consumer may take what went back
	return nil
}

// CancelBy is Cancel.
func (s *memSub) CancelBy(time.Time) error { return s.Cancel() }

// CloseBy is Close: an in-process queue never keeps it waiting.
func (s *memSub) CloseBy(time.Time) error { return s.Close() }

// Abandon does nothing: an in-process reply never waits.
func (s *memSub) Abandon() {}

func (s *memSub) Done() <-chan struct{} { return s.done }

func (s *memSub) Attached() bool {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	return !s.cancelled && !s.closed && !s.q.deleted
}

func (s *memSub) Wait(ctx context.Context) error { return s.live.wait(ctx) }

func (t *memTransport) reply(ctx context.Context, m Message) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	t.b.mu.RLock()
	h := t.b.replies[m.ReplyTo]
	t.b.mu.RUnlock()
	if h != nil {
		h.Reply(m)
	}
	return nil
}

type memRequester struct {
	t    *memTransport
	h    ReplyHandler
	addr string
	once sync.Once
}

func (t *memTransport) requester(h ReplyHandler) (Requester, error) {
	if err := t.check(context.Background()); err != nil {
		return nil, err
	}
	b := t.b
	b.mu.Lock()
	b.next++
	r := &memRequester{t: t, h: h, addr: "mem.reply." + strconv.FormatUint(b.next, 10)}
	b.replies[r.addr] = h
	b.mu.Unlock()
	t.mu.Lock()
	t.reqs[r] = struct{}{}
	t.mu.Unlock()
	return r, nil
}

// copiesBodies: a message's body goes to the other side as it is.
func (t *memTransport) copiesBodies() bool { return false }

func (t *memTransport) now() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return State{Connected: !t.closed}
}

func (r *memRequester) ReplyTo() string { return r.addr }

func (r *memRequester) Publish(ctx context.Context, key string, m Message) error {
	if err := r.t.check(ctx); err != nil {
		return err
	}
	b := r.t.b
	b.mu.RLock()
	q := b.routes[key]
	b.mu.RUnlock()
	if q == nil {
		return rabibridge.ErrNoSuchFunction
	}
	if m.ReplyTo != protocol.NoReply {
		m.ReplyTo = r.addr
	}
	mm := memMsg{m: m}
	if ttl := q.q.MessageTTL; ttl > 0 {
		mm.expires = time.Now().Add(ttl)
	}
	if d := m.Deadline; m.Expire && !d.IsZero() && (mm.expires.IsZero() || d.Before(mm.expires)) {
		mm.expires = d
	}
	if mm.m.Headers != nil {
		mm.m.Headers = maps.Clone(mm.m.Headers)
	}
	q.mu.Lock()
	switch {
	case q.deleted:
		q.mu.Unlock()
		return rabibridge.ErrNoSuchFunction
	case q.q.MaxLength > 0 && q.len() >= q.q.MaxLength:
		q.mu.Unlock()
		return rabibridge.ErrQueueFull
	}
	q.push(mm)
	sub, d := q.nextLocked()
	q.mu.Unlock()
	if sub != nil {
		sub.inbox <- d
		sub.handing.Done()
		q.pump()
	}
	return nil
}

func (r *memRequester) Close() error {
	r.once.Do(func() {
		b := r.t.b
		b.mu.Lock()
		delete(b.replies, r.addr)
		b.mu.Unlock()
		r.t.mu.Lock()
		delete(r.t.reqs, r)
		r.t.mu.Unlock()
	})
	return nil
}

func (t *memTransport) close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	subs := make([]*memSub, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	reqs := make([]*memRequester, 0, len(t.reqs))
	for r := range t.reqs {
		reqs = append(reqs, r)
	}
	t.mu.Unlock()
	for _, s := range subs {
		s.Close() // unacknowledged calls go back to their queues, as on a channel close
	}
	for _, r := range reqs {
		r.Close()
		r.h.Lost(errClosed) // their calls in flight get no reply now
	}
	memBrokers.Lock()
	t.b.refs--
	if t.b.refs == 0 && memBrokers.m[t.b.name] == t.b {
		delete(memBrokers.m, t.b.name)
	}
	memBrokers.Unlock()
	return nil
}

// memListener is a queue of its own bound to a fanout exchange.
type memListener struct {
	b        *memBroker
	exchange string
	in       chan Message
	stop     chan struct{} // closed by Cancel: no handler starts after it
	stopped  chan struct{} // closed when the handler's goroutine has returned
	done     chan struct{} // closed by Close
	stopOnce sync.Once
	once     sync.Once
}

func (t *memTransport) listen(ctx context.Context, exchange string, h func(Message)) (Subscription, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	l := &memListener{b: t.b, exchange: exchange, in: make(chan Message, 64),
		stop: make(chan struct{}), stopped: make(chan struct{}), done: make(chan struct{})}
	t.b.mu.Lock()
	if t.b.fanouts[exchange] == nil {
		t.b.fanouts[exchange] = map[*memListener]struct{}{}
	}
	t.b.fanouts[exchange][l] = struct{}{}
	t.b.mu.Unlock()
	go l.run(h)
	return l, nil
}

// run hands each message to h, one at a time, until Cancel.
func (l *memListener) run(h func(Message)) {
	defer close(l.stopped)
	for {
		select {
		case m := <-l.in:
			select {
			case <-l.stop:
				return
			default:
			}
			h(m)
		case <-l.stop:
			return
		}
	}
}

func (l *memListener) Cancel() error {
	l.b.mu.Lock()
	delete(l.b.fanouts[l.exchange], l)
	l.b.mu.Unlock()
	l.stopOnce.Do(func() { close(l.stop) })
	return nil
}

// Close cancels, and returns once the handler under way, if any, has.
func (l *memListener) Close() error {
	l.Cancel()
	<-l.stopped
	l.once.Do(func() { close(l.done) })
	return nil
}

// CancelBy is Cancel.
func (l *memListener) CancelBy(time.Time) error { return l.Cancel() }

// CloseBy is Close.
func (l *memListener) CloseBy(time.Time) error { return l.Close() }

// Abandon does nothing: a listener sends no replies of its own.
func (l *memListener) Abandon() {}

func (l *memListener) Done() <-chan struct{} { return l.done }

func (l *memListener) Attached() bool {
	select {
	case <-l.stop:
		return false
	default:
		return true
	}
}

func (l *memListener) Wait(ctx context.Context) error {
	select {
	case <-l.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *memRequester) Broadcast(ctx context.Context, exchange string, m Message) error {
	if err := r.t.check(ctx); err != nil {
		return err
	}
	m.ReplyTo = r.addr
	r.t.b.mu.RLock()
	defer r.t.b.mu.RUnlock()
	for l := range r.t.b.fanouts[exchange] {
		select {
		case l.in <- m:
		default: // a listener that does not keep up misses it, as a full queue would drop it
		}
	}
	return nil
}
