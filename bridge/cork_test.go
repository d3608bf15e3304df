package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge/internal/testbroker"
)

// writes is a net.Conn that records each Write it gets, and fails them once
// failing is set.
type writes struct {
	net.Conn
	got     [][]byte
	failing error
	closed  bool
}

func (w *writes) Write(p []byte) (int, error) {
	if w.failing != nil {
		return 0, w.failing
	}
	w.got = append(w.got, bytes.Clone(p))
	return len(p), nil
}

func (w *writes) Close() error { w.closed = true; return nil }

func TestCorkConn(t *testing.T) {
	is := is.New(t)
	w := &writes{}
	c := newCorkConn(w)

	// Uncorked, each write goes out as it comes.
	c.Write([]byte("a"))
	c.Write([]byte("b"))
	is.Equal(len(w.got), 2)

	// Corked, writes gather until the last holder uncorks, then go in one.
	w.got = nil
	c.cork()
	c.cork()
	n, err := c.Write([]byte("reply"))
	is.NoErr(err)
	is.Equal(n, 5)
	c.Write([]byte("ack"))
	c.uncork()
	is.Equal(len(w.got), 0) // one holder left
	c.Write([]byte("more"))
	c.uncork()
	is.Equal(w.got, [][]byte{[]byte("replyackmore")})

	// A write too big to gather goes out at once, after what was gathered.
	w.got = nil
	big := bytes.Repeat([]byte("x"), corkMax+1)
	c.cork()
	c.Write([]byte("head"))
	c.Write(big)
	c.Write([]byte("tail"))
	is.Equal(len(w.got), 2)
	is.Equal(w.got[0], []byte("head"))
	is.Equal(w.got[1], big)
	c.uncork()
	is.Equal(w.got[2], []byte("tail"))

	// An uncork with nothing gathered writes nothing.
	c.cork()
	c.uncork()
	is.Equal(len(w.got), 3)
}

// TestCorkConnFailure: a failed write of gathered bytes closes the
// connection (amqp091-go took them as sent, and its reader must see the
// connection end), and every later write fails with that error.
func TestCorkConnFailure(t *testing.T) {
	is := is.New(t)
	w := &writes{}
	c := newCorkConn(w)
	broken := errors.New("broken pipe")
	c.cork()
	_, err := c.Write([]byte("reply"))
	is.NoErr(err)
	w.failing = broken
	c.uncork()
	is.True(w.closed)
	_, err = c.Write([]byte("next"))
	is.True(errors.Is(err, broken))
	c.cork()
	_, err = c.Write([]byte("gathered"))
	is.True(errors.Is(err, broken)) // not gathered: the connection is dead
	c.uncork()

	// A failed direct write closes it too.
	w2 := &writes{failing: broken}
	c2 := newCorkConn(w2)
	_, err = c2.Write([]byte("a"))
	is.True(errors.Is(err, broken))
	is.True(w2.closed)
}

// recorder records the writes that reach the network.
type recorder struct {
	w   io.Writer
	mu  sync.Mutex
	got [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.got = append(r.got, bytes.Clone(p))
	r.mu.Unlock()
	return r.w.Write(p)
}

// methods lists the AMQP methods (class<<16 | method) of the method frames
// in a write.
func methods(b []byte) []uint32 {
	var out []uint32
	for len(b) >= 8 {
		size := int(binary.BigEndian.Uint32(b[3:7]))
		if len(b) < 8+size {
			break
		}
		if b[0] == 1 && size >= 4 { // a method frame
			out = append(out, binary.BigEndian.Uint32(b[7:11]))
		}
		b = b[8+size:]
	}
	return out
}

const (
	basicPublish = 60<<16 | 40
	basicAck     = 60<<16 | 80
)

// TestReplyAndAckShareAWrite: on RabbitMQ, a quiet worker's reply and the
// acknowledgement of its call leave in one network write.
func TestReplyAndAckShareAWrite(t *testing.T) {
	url := testbroker.URL(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := Dial(ctx, Config{URL: url})
	is.NoErr(err)
	defer conn.Close()
	cork := conn.t.(*amqpTransport).cork.Load()
	rec := &recorder{}
	cork.mu.Lock()
	rec.w, cork.out = cork.out, rec
	cork.mu.Unlock()

	q := Queue{Name: fmt.Sprintf("rpc_async_corktest%08x", rand.Uint32()), MaxLength: 10}
	q.RoutingKey = q.Name
	is.NoErr(conn.Declare(ctx, q))
	sub, err := conn.Consume(ctx, q.Name, ConsumeOptions{Prefetch: 4}, func(d *Delivery) {
		_ = d.Reply(Message{Body: []byte("pong")})
	})
	is.NoErr(err)
	defer sub.Close()

	// A call from a raw client, which waits for the reply.
	client, err := amqp.Dial(url)
	is.NoErr(err)
	defer client.Close()
	ch, err := client.Channel()
	is.NoErr(err)
	replies, err := ch.Consume(directReplyTo, "", true, false, false, false, nil)
	is.NoErr(err)
	call := func(cid string) {
		is.NoErr(ch.PublishWithContext(ctx, Exchange, q.RoutingKey, false, false,
			amqp.Publishing{Body: []byte("ping"), CorrelationId: cid, ReplyTo: directReplyTo}))
		select {
		case r := <-replies:
			is.Equal(string(r.Body), "pong")
		case <-ctx.Done():
			t.Fatal("no reply")
		}
	}
	call("1")               // the first reply opens the subscription's reply channel
	time.Sleep(2 * ackBusy) // so the worker is quiet: it acknowledges at once
	rec.mu.Lock()
	rec.got = nil
	rec.mu.Unlock()
	call("2")

	// The write with the reply holds the ack too (made before the reply
	// reached the client, which waited for it).
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var with [][]uint32
	for _, w := range rec.got {
		if ms := methods(w); slices.Contains(ms, basicPublish) {
			with = append(with, ms)
		}
	}
	is.Equal(with, [][]uint32{{basicPublish, basicAck}})
}
