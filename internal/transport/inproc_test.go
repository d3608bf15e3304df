package transport_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
)

type discard struct{}

func (discard) Reply(transport.Message) {}
func (discard) Returned(string)         {}
func (discard) Lost(error)              {}
func (discard) Recovered()              {}

func dialMem(t *testing.T) *transport.Conn {
	t.Helper()
	conn, err := transport.Dial(context.Background(), transport.Config{URLs: []string{"mem://" + t.Name()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// collector records deliveries without acknowledging them.
type collector struct {
	mu sync.Mutex
	ds []*transport.Delivery
	ch chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 100)} }

func (c *collector) handle(d *transport.Delivery) {
	c.mu.Lock()
	c.ds = append(c.ds, d)
	c.mu.Unlock()
	c.ch <- struct{}{}
}

func (c *collector) take(t *testing.T, n int) []*transport.Delivery {
	t.Helper()
	for range n {
		select {
		case <-c.ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("want %d deliveries", n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Handler goroutines run side by side: order by body (the tests'
	// bodies count up in publishing order).
	slices.SortFunc(c.ds, func(a, b *transport.Delivery) int { return bytes.Compare(a.Body, b.Body) })
	out := c.ds
	c.ds = nil
	return out
}

func (c *collector) none(t *testing.T) {
	t.Helper()
	select {
	case <-c.ch:
		t.Fatal("unexpected delivery")
	default:
	}
}

func TestMemPrefetchAndRequeue(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	conn := dialMem(t)
	q := transport.Queue{Name: protocol.QueueName("async", "f"), RoutingKey: protocol.RoutingKey("async", "f")}
	is.NoErr(conn.Declare(ctx, q))
	rq, err := conn.NewRequester(discard{})
	is.NoErr(err)
	for i := range 5 {
		is.NoErr(rq.Publish(ctx, q.RoutingKey, transport.Message{Body: []byte{byte(i)}, CorrelationID: "c", ReplyTo: rq.ReplyTo()}))
	}
	col := newCollector()
	sub, err := conn.Consume(ctx, q.Name, transport.ConsumeOptions{Prefetch: 2}, col.handle)
	is.NoErr(err)
	ds := col.take(t, 2) // prefetch 2: two
	is.Equal(ds[0].Body, []byte{0})
	is.Equal(ds[1].Body, []byte{1})
	col.none(t)
	is.NoErr(ds[0].Ack())
	ds2 := col.take(t, 1) // an ack frees a place
	is.Equal(ds2[0].Body, []byte{2})
	is.True(ds[0].Ack() != nil) // a second ack is an error

	is.NoErr(ds[1].Nack(true)) // back to the head of the queue
	d := col.take(t, 1)[0]
	is.Equal(d.Body, []byte{1})
	is.True(d.Redelivered)

	// A second consumer keeps the queue alive; closing the first sends its
	// unacknowledged calls back, redelivered.
	col2 := newCollector()
	sub2, err := conn.Consume(ctx, q.Name, transport.ConsumeOptions{Prefetch: 10}, col2.handle)
	is.NoErr(err)
	got := col2.take(t, 2) // 3 and 4 were waiting
	is.NoErr(sub.Close())
	back := col2.take(t, 2) // 2 and 1, unacknowledged by the first
	is.True(back[0].Redelivered && back[1].Redelivered)
	for _, d := range append(got, back...) {
		is.NoErr(d.Ack())
	}
	select {
	case <-sub.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	// The last consumer leaving deletes the auto-delete queue.
	is.NoErr(sub2.Cancel())
	err = rq.Publish(ctx, q.RoutingKey, transport.Message{Body: []byte{9}})
	is.True(errors.Is(err, rabibridge.ErrNoSuchFunction))
}

func TestMemDeclare(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	conn := dialMem(t)
	q := transport.Queue{Name: "rpc_async_g", RoutingKey: "async_g", MaxLength: 1, MessageTTL: time.Second}
	is.NoErr(conn.Declare(ctx, q))
	is.NoErr(conn.Declare(ctx, q)) // the same arguments: fine
	q2 := q
	q2.MaxLength = 2
	var me *transport.MismatchError
	is.True(errors.As(conn.Declare(ctx, q2), &me))
	is.Equal(me.Have["x-max-length"], int64(1))
	is.Equal(me.Want["x-max-length"], int64(2))
	is.Equal(me.Want["x-message-ttl"], int64(1000))
	q2.Redeclare = true
	is.NoErr(conn.Declare(ctx, q2))

	rq, _ := conn.NewRequester(discard{})
	is.NoErr(rq.Publish(ctx, "async_g", transport.Message{}))
	is.NoErr(rq.Publish(ctx, "async_g", transport.Message{}))
	is.True(errors.Is(rq.Publish(ctx, "async_g", transport.Message{}), rabibridge.ErrQueueFull))
	is.True(errors.Is(rq.Publish(ctx, "async_none", transport.Message{}), rabibridge.ErrNoSuchFunction))

	is.NoErr(conn.Close())
	is.NoErr(conn.Close()) // idempotent
	is.True(errors.Is(rq.Publish(ctx, "async_g", transport.Message{}), rabibridge.ErrClosed))
}

// TestMemListenerJoins: the in-process listener keeps the Subscription
// contract: Wait, after Cancel, and Close return only once the handler
// under way has.
func TestMemListenerJoins(t *testing.T) {
	is := is.New(t)
	conn := dialMem(t)
	running, release := make(chan struct{}), make(chan struct{})
	var returned sync.WaitGroup
	returned.Add(1)
	l, err := conn.Listen(context.Background(), "fanout", func(transport.Message) {
		close(running)
		<-release
		returned.Done()
	})
	is.NoErr(err)
	req, err := conn.NewRequester(discard{})
	is.NoErr(err)
	defer req.Close()
	is.NoErr(req.Broadcast(context.Background(), "fanout", transport.Message{CorrelationID: "1"}))
	<-running
	is.NoErr(l.Cancel())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	is.True(errors.Is(l.Wait(ctx), context.DeadlineExceeded)) // the handler still runs
	closed := make(chan struct{})
	go func() { l.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned with the handler under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	returned.Wait()
	is.NoErr(l.Wait(context.Background()))
}
