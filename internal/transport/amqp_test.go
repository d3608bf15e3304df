package transport

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/matryer/is"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
)

func TestMessageDeadline(t *testing.T) {
	ms := int64(1764057600123)
	for _, d := range []amqp.Delivery{
		{CorrelationId: "7@1764057600123"},
		{CorrelationId: "7", Headers: amqp.Table{protocol.HeaderDeadline: ms}},
		{CorrelationId: "7", Headers: amqp.Table{protocol.HeaderDeadline: int32(ms % (1 << 31))}},
	} {
		m := message(d)
		want := ms
		if v, ok := d.Headers[protocol.HeaderDeadline].(int32); ok {
			want = int64(v)
		}
		if m.CorrelationID != "7" || m.Deadline.UnixMilli() != want {
			t.Errorf("message(%q, %v) = %q, %v", d.CorrelationId, d.Headers, m.CorrelationID, m.Deadline.UnixMilli())
		}
	}
	p := publishing(Message{CorrelationID: "7", Deadline: time.UnixMilli(ms)})
	if p.CorrelationId != "7@1764057600123" || p.Headers != nil {
		t.Errorf("publishing: id %q, headers %v", p.CorrelationId, p.Headers)
	}
}

func BenchmarkCallID(b *testing.B) {
	deadline := time.Now().Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		id := protocol.CallID("123456789", deadline)
		if cid, _ := protocol.SplitCallID(id); cid != "123456789" {
			b.Fatal(cid)
		}
	}
}

// TestCopiesBodies: the promise CopiesBodies makes. On RabbitMQ, a body
// overwritten as soon as Publish returns still arrives as it was published;
// the in-process transport makes no such promise.
func TestCopiesBodies(t *testing.T) {
	mem, err := Dial(context.Background(), Config{URLs: []string{"mem://copies-bodies"}})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.CopiesBodies() {
		t.Error("the in-process transport promises to copy bodies; it hands them on")
	}

	url := testbroker.URL(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := Dial(ctx, Config{URLs: []string{url}})
	is.NoErr(err)
	defer conn.Close()
	is.True(conn.CopiesBodies())

	q := Queue{Name: fmt.Sprintf("rpc_async_copiestest%08x", rand.Uint32())}
	q.RoutingKey = q.Name
	is.NoErr(conn.Declare(ctx, q))
	defer conn.DeleteQueue(context.Background(), q.Name)
	got := make(chan []byte, 8)
	sub, err := conn.Consume(ctx, q.Name, ConsumeOptions{}, func(d *Delivery) {
		got <- bytes.Clone(d.Body)
		_ = d.Ack()
	})
	is.NoErr(err)
	defer sub.Close()
	req, err := conn.NewRequester(discard{})
	is.NoErr(err)
	defer req.Close()

	for _, size := range []int{100, 1 << 20} { // in one frame, and in many
		body := bytes.Repeat([]byte{'a'}, size)
		is.NoErr(req.Publish(ctx, q.RoutingKey, Message{Body: body, CorrelationID: "1"}))
		clear(body) // the caller reuses the buffer at once
		select {
		case b := <-got:
			is.Equal(len(b), size)
			is.True(bytes.Count(b, []byte{'a'}) == size) // as published, not as overwritten
		case <-ctx.Done():
			t.Fatal("the call did not arrive")
		}
	}
}

// discard is a ReplyHandler that wants nothing.
type discard struct{}

func (discard) Reply(Message)   {}
func (discard) Returned(string) {}
func (discard) Lost(error)      {}
func (discard) Recovered()      {}
