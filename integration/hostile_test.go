package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/matryer/is"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/wire"
)

// TestHostileCalls publishes bodies no decoder should trust: each gets an
// invalid_argument reply, is acknowledged (never requeued), and the worker
// answers a normal call afterwards.
func TestHostileCalls(t *testing.T) {
	prefix := serveDemo(t)
	ch := rawChannel(t)
	deep := append(bytes.Repeat([]byte{0x91}, 5000), 0x01)
	for _, tc := range []struct {
		name  string
		ctype string
		body  []byte
	}{
		{"not msgpack", "", []byte{0xc1, 0xc1}},
		{"not json", "application/json", []byte("[[1,2], {")},
		{"truncated", "", []byte{0x92, 0x90, 0x82, 0xa1, 0x61}},
		{"nested too deep", "", append([]byte{0x92, 0x90}, deep...)},
		{"lengths beyond the body", "", []byte{0x92, 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x80}},
		{"string length beyond the body", "", []byte{0x92, 0x91, 0xdb, 0x7f, 0xff, 0xff, 0xff}},
		{"zstd bomb", "", wire.Compress(make([]byte, 64<<20), 0)},
		{"corrupt zstd", "", []byte{0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff}},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			q, err := ch.QueueDeclare("", false, true, true, false, nil)
			is.NoErr(err)
			replies, err := ch.Consume(q.Name, "", true, true, false, false, nil)
			is.NoErr(err)
			cid := fmt.Sprint(rand.IntN(1 << 30))
			is.NoErr(ch.PublishWithContext(context.Background(), "rpc", "async_"+prefix+"add", true, false,
				amqp.Publishing{Body: tc.body, ContentType: tc.ctype, CorrelationId: cid, ReplyTo: q.Name}))
			select {
			case d := <-replies:
				is.Equal(d.CorrelationId, cid)
				is.Equal(d.Headers["x-rabibridge-code"], "invalid_argument")
			case <-time.After(10 * time.Second):
				t.Fatal("no error reply")
			}
		})
	}

	is := is.New(t)
	// Calls nobody could be answered are acknowledged and dropped.
	for _, p := range []amqp.Publishing{
		{Body: []byte{0x92, 0x90, 0x80}, CorrelationId: "1"},        // no reply_to
		{Body: []byte{0x92, 0x90, 0x80}, ReplyTo: "amq.gen-nobody"}, // no correlation id
	} {
		is.NoErr(ch.PublishWithContext(context.Background(), "rpc", "async_"+prefix+"add", true, false, p))
	}
	d := rabiCall(t, ch, prefix+"add", unhex(t, "92 92 01 02 80"))
	is.Equal(d.Body, unhex(t, "92 00 03")) // the worker still serves
	q, err := ch.QueueDeclarePassive("rpc_async_"+prefix+"add", true, true, false, false, amqp.Table{"x-overflow": "reject-publish"})
	is.NoErr(err)
	is.Equal(q.Messages, 0) // nothing left to be redelivered forever
}

// TestMalformedReply: a worker that answers garbage fails only that call.
func TestMalformedReply(t *testing.T) {
	is := is.New(t)
	fn := fmt.Sprintf("bad%08x", rand.Uint32())
	n := 0
	pyWorker(t, fn, func([]byte) []byte {
		n++ // one consumer goroutine: no race
		switch n {
		case 1:
			return []byte{0xc1, 0x00} // not msgpack
		case 2:
			return wire.Compress(make([]byte, 64<<20), 0) // a bomb
		}
		return unhex(t, "92 00 03")
	})
	c, err := caller.New(dial(t), caller.Config{})
	is.NoErr(err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		_, err = caller.Call[demo.AddReq, int](ctx, c, fn, demo.AddReq{})
		is.True(errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge)) // an error, at once
		is.True(ctx.Err() == nil)
	}
	sum, err := caller.Call[demo.AddReq, int](ctx, c, fn, demo.AddReq{A: 1, B: 2})
	is.NoErr(err)
	is.Equal(sum, 3)
}
