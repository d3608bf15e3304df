package transport

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"reflect"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// deliverFrame is a basic.deliver method frame.
func deliverFrame(ch uint16, tag string, deliveryTag uint64, redelivered bool) []byte {
	p := []byte{0, classBasic, 0, basicDeliver}
	p = append(append(p, byte(len(tag))), tag...)
	p = binary.BigEndian.AppendUint64(p, deliveryTag)
	if redelivered {
		p = append(p, 1)
	} else {
		p = append(p, 0)
	}
	p = append(append(p, 3), "rpc"...)
	p = append(append(p, 3), "add"...)
	return frame(frameMethod, ch, p)
}

// props are a content header's properties: flags and their values.
type props struct {
	contentType, correlationID, replyTo, messageID string
	timestamp                                      int64
	priority                                       byte
	table                                          []byte // a field table's fields, nil: no headers
}

// field is a field table's field.
func field(name string, typ byte, value []byte) []byte {
	return append(append(append([]byte{byte(len(name))}, name...), typ), value...)
}

// longstr is an AMQP long string.
func longstr(s string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

// headerFrame is a content header announcing size body bytes.
func headerFrame(ch uint16, size int, pr props) []byte {
	p := make([]byte, headerPrefix+2)
	binary.BigEndian.PutUint16(p[0:2], classBasic)
	binary.BigEndian.PutUint64(p[bodySizeAt:], uint64(size))
	var flags uint16
	str := func(bit uint, s string) {
		if s != "" {
			flags |= 1 << bit
			p = append(append(p, byte(len(s))), s...)
		}
	}
	str(15, pr.contentType)
	if pr.table != nil {
		flags |= 1 << 13
		p = binary.BigEndian.AppendUint32(p, uint32(len(pr.table)))
		p = append(p, pr.table...)
	}
	if pr.priority != 0 {
		flags |= 1 << 11
		p = append(p, pr.priority)
	}
	str(10, pr.correlationID)
	str(9, pr.replyTo)
	str(7, pr.messageID)
	if pr.timestamp != 0 {
		flags |= 1 << 6
		p = binary.BigEndian.AppendUint64(p, uint64(pr.timestamp))
	}
	binary.BigEndian.PutUint16(p[headerPrefix:], flags)
	return frame(frameHeader, ch, p)
}

// message is a delivery's frames, its body in frames of at most part bytes.
func deliveryFrames(ch uint16, tag string, deliveryTag uint64, pr props, body []byte, part int) []byte {
	out := append(deliverFrame(ch, tag, deliveryTag, false), headerFrame(ch, len(body), pr)...)
	for len(body) > 0 {
		n := min(len(body), part)
		out = append(out, frame(frameBody, ch, body[:n])...)
		body = body[n:]
	}
	return out
}

// takeAll reads the stream through an inbound with the consumer "mine"
// registered on a channel of room deliveries, and returns what amqp091-go
// would read and what was taken.
func takeAll(t *testing.T, stream []byte, room int, limit int64, src func(io.Reader) io.Reader) ([]byte, []amqp.Delivery) {
	t.Helper()
	var lim atomic.Int64
	lim.Store(limit)
	in := newInbound(src(bytes.NewReader(stream)), &lim)
	in.direct = new(directs)
	to := make(chan amqp.Delivery, room)
	in.direct.add("mine", to)
	out, err := io.ReadAll(in)
	if err != nil {
		t.Fatal(err)
	}
	close(to)
	var taken []amqp.Delivery
	for d := range to {
		taken = append(taken, d)
	}
	return out, taken
}

func TestInboundTakesDeliveries(t *testing.T) {
	var table []byte
	table = append(table, field("s", 'S', longstr("text"))...)
	table = append(table, field("i", 'I', binary.BigEndian.AppendUint32(nil, 0x8000_0000))...)
	table = append(table, field("l", 'l', binary.BigEndian.AppendUint64(nil, 1<<63))...)
	table = append(table, field("s", 'S', longstr("last"))...) // a repeated key: the last wins, as in amqp091-go
	pr := props{contentType: "application/msgpack", correlationID: "c1.123", replyTo: "amq.rabbitmq.reply-to.xyz",
		messageID: "m", timestamp: 1_700_000_000, priority: 3, table: table}
	body := bytes.Repeat([]byte("b"), 2500)
	other := deliveryFrames(2, "theirs", 7, pr, []byte("not mine"), 1000)
	var stream []byte
	stream = append(stream, deliveryFrames(1, "mine", 41, pr, body, 1000)...) // three body frames
	stream = append(stream, frame(8, 0, nil)...)                              // a heartbeat
	stream = append(stream, other...)
	redelivered := append(deliverFrame(1, "mine", 42, true), headerFrame(1, 0, props{})...) // no body, no properties
	stream = append(stream, redelivered...)

	for name, src := range map[string]func(io.Reader) io.Reader{
		"at once":          same,
		"a byte at a time": iotest.OneByteReader,
		"in halves":        iotest.HalfReader,
	} {
		t.Run(name, func(t *testing.T) {
			out, taken := takeAll(t, stream, 4, 0, src)
			want := append(frame(8, 0, nil), other...)
			if !bytes.Equal(out, want) {
				t.Fatalf("amqp091-go reads %d bytes, want the %d of the heartbeat and the other consumer's delivery", len(out), len(want))
			}
			if len(taken) != 2 {
				t.Fatalf("%d deliveries taken, want 2", len(taken))
			}
			d := taken[0]
			if d.DeliveryTag != 41 || d.Redelivered || !bytes.Equal(d.Body, body) ||
				d.ContentType != pr.contentType || d.CorrelationId != pr.correlationID || d.ReplyTo != pr.replyTo ||
				d.MessageId != pr.messageID || d.Priority != 3 || !d.Timestamp.Equal(time.Unix(pr.timestamp, 0)) {
				t.Errorf("first delivery taken as %+v", d)
			}
			if want := (amqp.Table{"s": "last", "i": int32(math.MinInt32), "l": int64(math.MinInt64)}); !reflect.DeepEqual(d.Headers, want) {
				t.Errorf("headers taken as %#v, want %#v", d.Headers, want)
			}
			if d := taken[1]; d.DeliveryTag != 42 || !d.Redelivered || len(d.Body) != 0 || d.CorrelationId != "" || d.ContentType != "" || d.Headers != nil {
				t.Errorf("second delivery taken as %+v", d)
			}
		})
	}
}

// TestInboundHandsBack: what inbound does not take reaches amqp091-go as
// it came (or, for a consumer with no room, as one body frame).
func TestInboundHandsBack(t *testing.T) {
	pr := props{correlationID: "c"}
	small := []byte("small body")
	bools := field("ok", 't', []byte{1})
	nested := field("x-death", 'A', binary.BigEndian.AppendUint32(nil, 0))
	withHeaders := deliveryFrames(1, "mine", 1, props{correlationID: "c", table: append(field("s", 'S', longstr("v")), bools...)}, small, 1000)
	withArray := deliveryFrames(1, "mine", 1, props{correlationID: "c", table: nested}, small, 1000)
	cut := deliveryFrames(1, "mine", 1, props{correlationID: "c", table: field("s", 'S', longstr("v"))[:5]}, small, 1000)
	large := deliveryFrames(1, "mine", 2, pr, bytes.Repeat([]byte("L"), maxDirect+1), 100_000)

	for name, stream := range map[string][]byte{"a bool header": withHeaders, "an array header": withArray, "a cut table": cut} {
		t.Run(name, func(t *testing.T) {
			out, taken := takeAll(t, stream, 4, 0, iotest.HalfReader)
			if len(taken) != 0 || !bytes.Equal(out, stream) {
				t.Fatalf("%d taken, %d of %d bytes through", len(taken), len(out), len(stream))
			}
		})
	}
	t.Run("larger than maxDirect", func(t *testing.T) {
		out, taken := takeAll(t, large, 4, 0, same)
		if len(taken) != 0 || !bytes.Equal(out, large) {
			t.Fatalf("%d taken, %d of %d bytes through", len(taken), len(out), len(large))
		}
	})
	t.Run("over the read limit", func(t *testing.T) {
		big := bytes.Repeat([]byte("B"), 5000)
		out, taken := takeAll(t, deliveryFrames(1, "mine", 3, pr, big, 1000), 4, 4000, iotest.OneByteReader)
		bodies, others := readFrames(t, out)
		if len(taken) != 0 || others != 1 || len(bodies[1]) != 1 || tooLarge(bodies[1][0]) != int64(len(big)) {
			t.Fatalf("%d taken, %d other frames, bodies %q", len(taken), others, bodies[1])
		}
	})
	t.Run("no room", func(t *testing.T) {
		var stream, first []byte
		for tag := range uint64(3) {
			stream = append(stream, deliveryFrames(1, "mine", tag, pr, bytes.Repeat([]byte{byte('a' + tag)}, 1500), 1000)...)
			if tag == 0 {
				first = stream
			}
		}
		out, taken := takeAll(t, stream, 1, 0, same)
		// As they came: frames no larger than the broker's, within its frame_max.
		if !bytes.Equal(out, stream[len(first):]) {
			t.Errorf("the two deliveries handed back are not the frames that came")
		}
		bodies, others := readFrames(t, out)
		if len(taken) != 1 || taken[0].DeliveryTag != 0 || others != 2 || len(bodies[1]) != 2 {
			t.Fatalf("%d taken, %d methods and %d bodies handed back", len(taken), others, len(bodies[1]))
		}
		for i, b := range bodies[1] {
			if want := bytes.Repeat([]byte{byte('b' + i)}, 1500); !bytes.Equal(b, want) {
				t.Errorf("body %d handed back changed", i)
			}
		}
	})
	t.Run("unregistered", func(t *testing.T) {
		var lim atomic.Int64
		stream := deliveryFrames(1, "mine", 1, pr, small, 1000)
		in := newInbound(bytes.NewReader(stream), &lim)
		in.direct = new(directs)
		to := make(chan amqp.Delivery, 1)
		in.direct.add("mine", to)
		in.direct.add("other", make(chan amqp.Delivery, 1))
		in.direct.remove("mine", to)
		out, err := io.ReadAll(in)
		if err != nil || !bytes.Equal(out, stream) || len(to) != 0 {
			t.Fatalf("%d of %d bytes through (%v), %d taken", len(out), len(stream), err, len(to))
		}
	})
}

func same(r io.Reader) io.Reader { return r }

// FuzzInbound: whatever the broker sends, inbound neither panics nor
// loses a delivery it takes: a taken body is the size its header said.
func FuzzInbound(f *testing.F) {
	pr := props{contentType: "application/json", correlationID: "c", replyTo: "r",
		table: field("s", 'S', longstr("v"))}
	f.Add(deliveryFrames(1, "mine", 1, pr, []byte("body"), 2))
	f.Add(append(deliveryFrames(1, "mine", 1, props{}, nil, 1), frame(8, 0, nil)...))
	f.Add(deliveryFrames(3, "theirs", 1, pr, []byte("body"), 3))
	f.Fuzz(func(t *testing.T, stream []byte) {
		var lim atomic.Int64
		lim.Store(1000)
		in := newInbound(bytes.NewReader(stream), &lim)
		in.direct = new(directs)
		to := make(chan amqp.Delivery, 2)
		in.direct.add("mine", to)
		io.Copy(io.Discard, in)
		close(to)
		for d := range to {
			if len(d.Body) > maxDirect {
				t.Fatalf("a body of %d bytes taken", len(d.Body))
			}
		}
	})
}
