package bridge

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/rabibridge/rabibridge"
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
		b = &memBroker{name: name, queues: map[string]*memQueue{}, routes: map[string]*memQueue{}, replies: map[string]ReplyHandler{}}
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
			if old.q.MaxLength == q.MaxLength && old.q.MessageTTL.Milliseconds() == q.MessageTTL.Milliseconds() {
				b.routes[q.RoutingKey] = old
				return nil
			}
			return &MismatchError{Queue: q.Name, Have: old.q.Args(), Want: q.Args()}
		}
		b.deleteLocked(old)
	}
	nq := &memQueue{b: b, q: q}
	nq.cond.L = &nq.mu
	b.queues[q.Name] = nq
	b.routes[q.RoutingKey] = nq
	return nil
}

// deleteLocked deletes q; its messages are dropped and its consumers end.
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
	q.ready = nil
	q.cond.Broadcast()
	q.mu.Unlock()
}

type memMsg struct {
	m           Message
	expires     time.Time
	redelivered bool
}

type memQueue struct {
	b *memBroker
	q Queue

	mu          sync.Mutex
	cond        sync.Cond
	ready       []memMsg // FIFO from head
	head        int
	consumers   int
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

func (t *memTransport) consume(ctx context.Context, queue string, prefetch int, h func(*Delivery)) (Subscription, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	t.b.mu.RLock()
	q := t.b.queues[queue]
	t.b.mu.RUnlock()
	if q == nil {
		return nil, fmt.Errorf("bridge: queue %s not found: declare it first", queue)
	}
	s := &memSub{t: t, q: q, prefetch: prefetch, h: h, unacked: map[uint64]memMsg{}, done: make(chan struct{})}
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, fmt.Errorf("bridge: queue %s not found: it was deleted", queue)
	}
	q.consumers++
	q.hadConsumer = true
	q.mu.Unlock()
	t.mu.Lock()
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	go s.loop()
	return s, nil
}

type memSub struct {
	t        *memTransport
	q        *memQueue
	prefetch int
	h        func(*Delivery)

	// guarded by q.mu
	unacked   map[uint64]memMsg
	tag       uint64
	cancelled bool
	closed    bool

	done chan struct{}
}

func (s *memSub) loop() {
	q := s.q
	for {
		q.mu.Lock()
		for !s.cancelled && !q.deleted && (q.len() == 0 || s.prefetch > 0 && len(s.unacked) >= s.prefetch) {
			q.cond.Wait()
		}
		if s.cancelled || q.deleted {
			deleted := q.deleted
			q.mu.Unlock()
			if deleted {
				s.Close()
			}
			return
		}
		m := q.pop()
		if !m.expires.IsZero() && time.Now().After(m.expires) {
			q.mu.Unlock() // dead: its TTL or its caller's deadline passed
			continue
		}
		s.tag++
		tag := s.tag
		s.unacked[tag] = m
		q.mu.Unlock()
		s.h(&Delivery{Message: m.m, Redelivered: m.redelivered, acker: s, tag: tag})
	}
}

func (s *memSub) ack(tag uint64) error {
	q := s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := s.unacked[tag]; !ok {
		return fmt.Errorf("bridge: ack of unknown delivery tag %d (acknowledged twice, or the subscription was closed)", tag)
	}
	delete(s.unacked, tag)
	q.cond.Broadcast()
	return nil
}

func (s *memSub) nack(tag uint64, requeue bool) error {
	q := s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	m, ok := s.unacked[tag]
	if !ok {
		return fmt.Errorf("bridge: nack of unknown delivery tag %d", tag)
	}
	delete(s.unacked, tag)
	if requeue && !q.deleted {
		m.redelivered = true
		q.pushFront(m)
	}
	q.cond.Broadcast()
	return nil
}

// Cancel stops deliveries. The last consumer of an auto-delete queue
// leaving deletes it, as RabbitMQ does.
func (s *memSub) Cancel() error {
	q := s.q
	q.mu.Lock()
	if s.cancelled {
		q.mu.Unlock()
		return nil
	}
	s.cancelled = true
	q.consumers--
	last := q.consumers == 0 && !q.deleted
	q.cond.Broadcast()
	q.mu.Unlock()
	if last {
		q.b.mu.Lock()
		q.mu.Lock()
		still := q.consumers == 0
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
	s.closed = true
	if !q.deleted {
		for _, m := range s.unacked {
			m.redelivered = true
			q.pushFront(m)
		}
	}
	clear(s.unacked)
	q.cond.Broadcast()
	q.mu.Unlock()
	close(s.done)
	s.t.mu.Lock()
	delete(s.t.subs, s)
	s.t.mu.Unlock()
	return nil
}

func (s *memSub) Done() <-chan struct{} { return s.done }

func (t *memTransport) reply(ctx context.Context, m *Message) error {
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

func (r *memRequester) ReplyTo() string { return r.addr }

func (r *memRequester) Publish(ctx context.Context, key string, m *Message) error {
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
	mm := memMsg{m: *m}
	if ttl := q.q.MessageTTL; ttl > 0 {
		mm.expires = time.Now().Add(ttl)
	}
	if d := m.Deadline; !d.IsZero() && (mm.expires.IsZero() || d.Before(mm.expires)) {
		mm.expires = d
	}
	if mm.m.Headers != nil {
		mm.m.Headers = maps.Clone(mm.m.Headers)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.deleted:
		return rabibridge.ErrNoSuchFunction
	case q.q.MaxLength > 0 && q.len() >= q.q.MaxLength:
		return rabibridge.ErrQueueFull
	}
	q.push(mm)
	q.cond.Broadcast()
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
