package integration

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawChannel opens a channel with amqp091-go directly, as another
// implementation would.
func rawChannel(t *testing.T) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(testbroker.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// serveDemo serves the demo functions under a prefix of the test's own.
func serveDemo(t *testing.T) (prefix string) {
	t.Helper()
	prefix = fmt.Sprintf("w%08x_", rand.Uint32())
	reg := registry.New()
	for _, err := range []error{
		registry.RegisterIn(reg, prefix+"add", demo.Add, registry.Options{}),
		registry.RegisterIn(reg, prefix+"echo", demo.Echo, registry.Options{}),
		registry.RegisterIn(reg, prefix+"fail", demo.Fail, registry.Options{}),
		registry.RegisterIn(reg, prefix+"sleep", demo.Sleep, registry.Options{}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	serve(t, testbroker.URL(t), reg) // returns once every queue is consumed
	return prefix
}

// replyQueue declares a server-named exclusive reply queue, as
// RabiBridge's client does, and consumes it.
func replyQueue(t *testing.T, ch *amqp.Channel) (string, <-chan amqp.Delivery) {
	t.Helper()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	replies, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Name, replies
}

// rabiCall publishes body as RabiBridge's client does (exchange rpc, routing
// key async_<fn>, a server-named exclusive reply queue, a decimal
// correlation id) and returns the reply.
func rabiCall(t *testing.T, ch *amqp.Channel, fn string, body []byte) amqp.Delivery {
	t.Helper()
	replyTo, replies := replyQueue(t, ch)
	cid := fmt.Sprint(rand.IntN(1 << 30))
	err := ch.PublishWithContext(context.Background(), "rpc", "async_"+fn, true, false,
		amqp.Publishing{Body: body, CorrelationId: cid, ReplyTo: replyTo})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-replies:
		if d.CorrelationId != cid {
			t.Fatalf("reply correlation id %q, want %q", d.CorrelationId, cid)
		}
		if d.Exchange != "" || d.RoutingKey != replyTo {
			t.Fatalf("reply came by exchange %q key %q, want the default exchange and the reply queue", d.Exchange, d.RoutingKey)
		}
		return d
	case <-time.After(10 * time.Second):
		t.Fatalf("no reply to %s", fn)
	}
	panic("unreachable")
}

// TestWireFromRabiBridgeClient sends WIRE.md's sample requests as a Python
// RabiBridge client would and checks the replies byte for byte.
func TestWireFromRabiBridgeClient(t *testing.T) {
	prefix := serveDemo(t)
	ch := rawChannel(t)
	for _, tc := range []struct {
		name, fn, body, reply string
	}{
		{"add(a=1, b=2)", "add", "92 90 82 a1 61 01 a1 62 02", "92 00 03"},
		{"add(1, 2)", "add", "92 92 01 02 80", "92 00 03"},
		{"echo(5)", "echo", "92 91 05 80", "92 00 05"},
		{"echo('hi')", "echo", "92 91 a2 68 69 80", "92 00 a2 68 69"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			d := rabiCall(t, ch, prefix+tc.fn, unhex(t, tc.body))
			is.Equal(d.Body, unhex(t, tc.reply))
		})
	}
	t.Run("fail()", func(t *testing.T) {
		is := is.New(t)
		d := rabiCall(t, ch, prefix+"fail", unhex(t, "92 90 80"))
		is.Equal(d.Body[:2], []byte{0x92, 0x01}) // [1, message]
		ok, _, msg, err := wire.DecodeReply(wire.Msgpack, d.Body)
		is.NoErr(err)
		is.True(!ok)
		is.True(strings.Contains(msg, "demo failure"))
		is.Equal(d.Headers["x-rabibridge-code"], "internal") // the precise code travels beside
	})
	t.Run("compressed both ways", func(t *testing.T) {
		is := is.New(t)
		s := strings.Repeat("x", 5000)
		body, _ := wire.AppendRequestArg(wire.Msgpack, nil, s)
		d := rabiCall(t, ch, prefix+"echo", wire.Compress(body, 1024))
		is.True(bytes.HasPrefix(d.Body, []byte{0x28, 0xb5, 0x2f, 0xfd})) // the zstd magic
		plain, err := wire.Decompress(d.Body, 0)
		is.NoErr(err)
		want, _ := wire.AppendReply(wire.Msgpack, nil, s)
		is.Equal(plain, want)
	})
}

// pyWorker serves fn as Python RabiBridge does: RabiBridge's queue
// arguments, no content type and no code header on replies.
func pyWorker(t *testing.T, fn string, answer func(body []byte) []byte) {
	t.Helper()
	ch := rawChannel(t)
	if err := ch.ExchangeDeclare("rpc", "direct", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q := "rpc_async_" + fn
	if _, err := ch.QueueDeclare(q, true, true, false, false, amqp.Table{"x-overflow": "reject-publish", "x-max-length": int32(100)}); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q, "async_"+fn, "rpc", false, nil); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range ds {
			_ = ch.PublishWithContext(context.Background(), "", d.ReplyTo, false, false,
				amqp.Publishing{Body: answer(d.Body), CorrelationId: d.CorrelationId})
			_ = d.Ack(false)
		}
	}()
}

// TestWireToRabiBridgeWorker calls a worker that answers as Python
// RabiBridge does.
func TestWireToRabiBridgeWorker(t *testing.T) {
	is := is.New(t)
	fn := fmt.Sprintf("py%08x", rand.Uint32())
	got := make(chan []byte, 10) // what the Python-style worker received
	pyWorker(t, fn+"_add", func(body []byte) []byte {
		got <- append([]byte(nil), body...)
		return unhex(t, "92 00 03")
	})
	pyWorker(t, fn+"_div", func([]byte) []byte {
		return wire.AppendErrorReply(wire.Msgpack, nil, "Traceback ...\nZeroDivisionError: division by zero\n")
	})
	c, err := caller.New(dial(t), caller.Config{})
	is.NoErr(err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sum, err := caller.Call[demo.AddReq, int](ctx, c, fn+"_add", demo.AddReq{A: 1, B: 2})
	is.NoErr(err)
	is.Equal(sum, 3)
	is.Equal(<-got, unhex(t, "92 90 82 a1 61 01 a1 62 02")) // kwargs, as WIRE.md's add(a=1, b=2)
	v, err := c.Invoke(ctx, fn+"_add", []any{1, 2}, nil)
	is.NoErr(err)
	is.Equal(v, int64(3))
	is.Equal(<-got, unhex(t, "92 92 01 02 80")) // positional, as add(1, 2)

	_, err = c.Invoke(ctx, fn+"_div", []any{1, 0}, nil)
	var re *rabibridge.RemoteError
	is.True(errors.As(err, &re))
	is.Equal(re.Code, rabibridge.CodeInternal) // no code header: internal
	is.True(strings.Contains(re.Message, "ZeroDivisionError"))

	// A Go worker joins the queue the Python one declared: same arguments,
	// no PRECONDITION_FAILED.
	reg := registry.New()
	is.NoErr(registry.RegisterIn(reg, fn+"_add", demo.Add, registry.Options{QueueSize: 100}))
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.New(dial(t), reg, worker.Config{}).Serve(wctx) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Go worker refused the Python worker's queue: %v", err)
	default:
	}
	stop()
	is.NoErr(<-done)
}

// TestWireDeadline checks what a Go caller's deadline looks like on the
// wire: in the correlation id always ("<id>@<Unix ms>", echoed back as a
// Python worker echoes any id), and the AMQP expiration only with
// caller.Config.Expire (milliseconds left, at most the timeout).
func TestWireDeadline(t *testing.T) {
	is := is.New(t)
	fn := fmt.Sprintf("dl%08x", rand.Uint32())
	got := make(chan amqp.Delivery, 10)
	ch := rawChannel(t)
	is.NoErr(ch.ExchangeDeclare("rpc", "direct", true, false, false, false, nil))
	q := "rpc_async_" + fn
	_, err := ch.QueueDeclare(q, true, true, false, false, amqp.Table{"x-overflow": "reject-publish"})
	is.NoErr(err)
	is.NoErr(ch.QueueBind(q, "async_"+fn, "rpc", false, nil))
	ds, err := ch.Consume(q, "", false, false, false, false, nil)
	is.NoErr(err)
	go func() {
		for d := range ds {
			got <- d
			_ = ch.PublishWithContext(context.Background(), "", d.ReplyTo, false, false,
				amqp.Publishing{Body: unhex(t, "92 00 03"), CorrelationId: d.CorrelationId})
			_ = d.Ack(false)
		}
	}()
	for _, expire := range []bool{false, true} {
		c, err := caller.New(dial(t), caller.Config{Expire: expire})
		is.NoErr(err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		deadline, _ := ctx.Deadline()
		_, err = caller.Call[int, int](ctx, c, fn, 1)
		cancel()
		c.Close()
		is.NoErr(err)
		d := <-got
		id, ms, ok := strings.Cut(d.CorrelationId, "@")
		is.True(ok) // the deadline in the id, always
		_, err = strconv.ParseUint(id, 10, 64)
		is.NoErr(err)                                             // a decimal id before it
		is.Equal(ms, strconv.FormatInt(deadline.UnixMilli(), 10)) // the caller's deadline
		is.Equal(len(d.Headers), 0)                               // and no headers table
		if !expire {
			is.Equal(d.Expiration, "") // no per-message TTL by default
			continue
		}
		left, err := strconv.Atoi(d.Expiration)
		is.NoErr(err)
		is.True(left > 0 && left <= 5000)
	}
}

// TestWireDeadlineToWorker checks the deadlines a Go worker reads from other
// clients: in the correlation id or in the x-rabibridge-deadline header. A
// call whose deadline has passed is not run and gets a deadline_exceeded
// reply at once (its caller may still wait: its clock may be behind); any
// other gets its result. Every id comes back as it came.
func TestWireDeadlineToWorker(t *testing.T) {
	is := is.New(t)
	prefix := serveDemo(t)
	ch := rawChannel(t)
	replyTo, replies := replyQueue(t, ch)
	past := strconv.FormatInt(time.Now().Add(-time.Second).UnixMilli(), 10)
	future := strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10)
	body := unhex(t, "92 91 05 80") // echo(5)
	send := func(cid string, headers amqp.Table) {
		t.Helper()
		is.NoErr(ch.PublishWithContext(context.Background(), "rpc", "async_"+prefix+"echo", true, false,
			amqp.Publishing{Body: body, CorrelationId: cid, ReplyTo: replyTo, Headers: headers}))
	}
	send("1@"+past, nil)
	send("2", amqp.Table{protocol.HeaderDeadline: time.Now().Add(-time.Second).UnixMilli()})
	live := []string{"3@" + future, "4", "id@not-a-deadline", "5@"}
	for _, cid := range live {
		send(cid, nil)
	}
	want := map[string]string{"1@" + past: "deadline_exceeded", "2": "deadline_exceeded"}
	for _, cid := range live {
		want[cid] = "ok"
	}
	got := map[string]string{}
	timeout := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case d := <-replies:
			code, _ := d.Headers[protocol.HeaderCode].(string)
			switch {
			case code == "" && bytes.Equal(d.Body, unhex(t, "92 00 05")): // [0, 5]
				code = "ok"
			case code == "":
				code = fmt.Sprintf("body % x", d.Body)
			}
			got[d.CorrelationId] = code
		case <-timeout:
			t.Fatalf("replies %q, want %q", got, want)
		}
	}
	is.Equal(got, want) // ids echoed as they came; the expired calls answered deadline_exceeded, not run
}

// TestWireLateReply: a handler that ends at the call's deadline still
// answers (deadline_exceeded): a caller whose clock is behind the worker's
// is still waiting for it.
func TestWireLateReply(t *testing.T) {
	prefix := serveDemo(t)
	ch := rawChannel(t)
	replyTo, replies := replyQueue(t, ch)
	soon := strconv.FormatInt(time.Now().Add(300*time.Millisecond).UnixMilli(), 10)
	body := unhex(t, "92 91 cd 02 58 80") // sleep(600)
	if err := ch.PublishWithContext(context.Background(), "rpc", "async_"+prefix+"sleep", true, false,
		amqp.Publishing{Body: body, CorrelationId: "7@" + soon, ReplyTo: replyTo}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-replies:
		if d.CorrelationId != "7@"+soon || d.Headers[protocol.HeaderCode] != "deadline_exceeded" {
			t.Errorf("reply %q with code %v", d.CorrelationId, d.Headers[protocol.HeaderCode])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply to a call whose handler ended at its deadline")
	}
}
