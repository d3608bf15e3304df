package transport

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Deliveries taken off the frame stream.
//
// amqp091-go hands a delivery from its reader goroutine to a goroutine of
// the consumer's, which hands it to the consumer's channel: two goroutine
// hand-offs, and a dozen allocations to parse its frames, per delivery.
// inbound reads every frame anyway (see frames.go), so for the consumers
// registered in a connection's directs it takes a delivery's frames out
// of the stream itself and sends the delivery to the consumer's channel:
// one hand-off, from the reader goroutine. amqp091-go never sees those
// frames; it keeps no state of a consumer's deliveries (an ack is only a
// frame it writes), so it does not miss them.
//
// What inbound cannot take as simply goes to amqp091-go as before, frame
// for frame as it came: a delivery with headers other than strings and
// integers (a dead letter's x-death, say), one with a body over maxDirect
// or the read limit, and one whose consumer's channel is full (its body
// then in frames of the largest size it came in, which the connection's
// frame_max allows), so that the reader never waits on a consumer.

// maxDirect is the largest body taken directly (into memory only once, as
// amqp091-go would read it).
const maxDirect = 64 << 10

// directs are a connection's consumers whose deliveries inbound takes,
// by consumer tag.
type directs struct {
	mu sync.Mutex // for writers
	by atomic.Pointer[map[string]chan<- amqp.Delivery]
}

// add registers the consumer tag: from then on its deliveries go to to.
// The tag must be unique on the connection.
func (d *directs) add(tag string, to chan<- amqp.Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := map[string]chan<- amqp.Delivery{tag: to}
	if old := d.by.Load(); old != nil {
		for k, v := range *old {
			if k != tag {
				m[k] = v
			}
		}
	}
	d.by.Store(&m)
}

// remove unregisters the tag, if it still goes to to.
func (d *directs) remove(tag string, to chan<- amqp.Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.by.Load()
	if old == nil || (*old)[tag] != to {
		return
	}
	m := make(map[string]chan<- amqp.Delivery, len(*old))
	for k, v := range *old {
		if k != tag {
			m[k] = v
		}
	}
	d.by.Store(&m)
}

// any reports whether a consumer is registered.
func (d *directs) any() bool {
	if d == nil {
		return false
	}
	m := d.by.Load()
	return m != nil && len(*m) > 0
}

// lookup returns the channel of the consumer tag, or nil.
func (d *directs) lookup(tag []byte) chan<- amqp.Delivery {
	if d == nil {
		return nil
	}
	m := d.by.Load()
	if m == nil {
		return nil
	}
	return (*m)[string(tag)]
}

// takingOn returns the delivery being taken on channel ch, or nil.
func (in *inbound) takingOn(ch uint16) *taking {
	if int(ch) < len(in.taking) {
		if t := in.taking[ch]; t != nil && t.to != nil {
			return t
		}
	}
	return nil
}

// taking is a delivery inbound is taking off one channel's frames.
type taking struct {
	to   chan<- amqp.Delivery
	raw  []byte // its method and header frames as they came
	d    amqp.Delivery
	size int    // the body's size
	body []byte // what came of it
	part int    // the largest body frame's payload

	replyTo string // the last delivery's ReplyTo: a caller's calls all carry the same
}

const (
	frameMethod  = 1
	classBasic   = 60
	basicDeliver = 60
	maxDeliver   = 4 + 3*256 + 8 + 1 // class, method, three short strings, tag, redelivered
)

// deliver starts taking the delivery whose method frame payload and end
// are b (size+1 bytes, size ≤ maxDeliver) when it is a basic.deliver to a
// registered consumer, and says whether it did.
func (in *inbound) deliver(ch uint16, b []byte, size int) bool {
	if size < 4+1 || b[size] != frameEnd || binary.BigEndian.Uint16(b) != classBasic || binary.BigEndian.Uint16(b[2:]) != basicDeliver {
		return false
	}
	tag, rest, ok := shortstr(b[4:size])
	if !ok {
		return false
	}
	if len(rest) < 9 { // the delivery tag and the redelivered bit
		return false
	}
	to := in.direct.lookup(tag)
	if to == nil {
		return false
	}
	if int(ch) >= len(in.taking) {
		in.taking = append(in.taking, make([]*taking, int(ch)+1-len(in.taking))...)
	}
	t := in.taking[ch]
	if t == nil {
		t = &taking{}
		in.taking[ch] = t
	}
	*t = taking{to: to, raw: append(append(append(t.raw[:0], in.head[:]...), b[:size]...), frameEnd), replyTo: t.replyTo}
	t.d.DeliveryTag = binary.BigEndian.Uint64(rest)
	t.d.Redelivered = rest[8]&1 != 0
	t.size = -1
	return true
}

// content takes the properties of a content header (its payload p) for t,
// and says whether t can be taken directly.
func (t *taking) content(p []byte) bool {
	n := binary.BigEndian.Uint64(p[bodySizeAt:])
	if n > maxDirect {
		return false
	}
	t.size = int(n)
	flags := binary.BigEndian.Uint16(p[headerPrefix:])
	if flags&1 != 0 { // more flags than one word
		return false
	}
	b := p[headerPrefix+2:]
	var ok bool
	str := func(bit uint, to *string) {
		if ok && flags&(1<<bit) != 0 {
			var s []byte
			s, b, ok = shortstr(b)
			*to = known(s)
		}
	}
	octet := func(bit uint, to *uint8) {
		if ok && flags&(1<<bit) != 0 {
			if ok = len(b) >= 1; ok {
				*to, b = b[0], b[1:]
			}
		}
	}
	ok = true
	str(15, &t.d.ContentType)
	str(14, &t.d.ContentEncoding)
	if ok && flags&(1<<13) != 0 {
		t.d.Headers, b, ok = headers(b)
	}
	octet(12, &t.d.DeliveryMode)
	octet(11, &t.d.Priority)
	str(10, &t.d.CorrelationId)
	if ok && flags&(1<<9) != 0 {
		var s []byte
		if s, b, ok = shortstr(b); string(s) != t.replyTo {
			t.replyTo = string(s)
		}
		t.d.ReplyTo = t.replyTo
	}
	str(8, &t.d.Expiration)
	str(7, &t.d.MessageId)
	if ok && flags&(1<<6) != 0 {
		if ok = len(b) >= 8; ok {
			t.d.Timestamp = time.Unix(int64(binary.BigEndian.Uint64(b)), 0)
			b = b[8:]
		}
	}
	str(5, &t.d.Type)
	str(4, &t.d.UserId)
	str(3, &t.d.AppId)
	var cluster string
	str(2, &cluster)
	return ok
}

// maxHeaders bounds the headers taken directly; a delivery with more goes
// to amqp091-go, which has its own bound.
const maxHeaders = 64

// headers reads a field table whose values are all strings and integers,
// as amqp091-go would (the types message reads); any other table is left
// to amqp091-go.
func headers(b []byte) (amqp.Table, []byte, bool) {
	if len(b) < 4 || uint64(len(b)-4) < uint64(binary.BigEndian.Uint32(b)) {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	fields, rest := b[4:4+n], b[4+n:]
	table := make(amqp.Table, 4)
	for len(fields) > 0 {
		key, v, ok := shortstr(fields)
		if !ok || len(v) < 1 || len(table) >= maxHeaders {
			return nil, nil, false
		}
		switch typ, v := v[0], v[1:]; {
		case typ == 'S' && len(v) >= 4 && uint64(len(v)-4) >= uint64(binary.BigEndian.Uint32(v)):
			l := binary.BigEndian.Uint32(v)
			table[string(key)] = string(v[4 : 4+l])
			fields = v[4+l:]
		case typ == 'I' && len(v) >= 4:
			table[string(key)] = int32(binary.BigEndian.Uint32(v))
			fields = v[4:]
		case typ == 'l' && len(v) >= 8:
			table[string(key)] = int64(binary.BigEndian.Uint64(v))
			fields = v[8:]
		default:
			return nil, nil, false
		}
	}
	return table, rest, true
}

// shortstr reads an AMQP short string.
func shortstr(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, false
	}
	return b[1 : 1+b[0]], b[1+b[0]:], true
}

// known returns s as a string, without a copy for the values every call
// carries.
func known(s []byte) string {
	switch string(s) {
	case "application/msgpack":
		return "application/msgpack"
	case "application/json":
		return "application/json"
	}
	return string(s)
}

// body takes a body frame of size bytes for t.
func (in *inbound) body(ch uint16, t *taking, size int) error {
	n := len(t.body)
	if n+size > t.size { // more than announced: amqp091-go fails the connection
		in.pending = append(t.handBack(ch), in.head[:]...)
		in.pass = size + 1
		t.to, t.body = nil, nil
		return nil
	}
	t.part = max(t.part, size)
	t.body = t.body[:n+size]
	if _, err := io.ReadFull(in.r, t.body[n:]); err != nil {
		return err
	}
	if end, err := in.r.ReadByte(); err != nil {
		return err
	} else if end != frameEnd {
		return errFrameEnd
	}
	if len(t.body) == t.size {
		in.finish(ch, t)
	}
	return nil
}

var errFrameEnd = errors.New("a body frame does not end with the frame end byte")

// finish hands t's delivery to its consumer, or back to amqp091-go.
func (in *inbound) finish(ch uint16, t *taking) {
	if !t.send() {
		in.pending = t.handBack(ch)
	}
	t.to, t.body = nil, nil
}

// send hands t's delivery to its consumer, and says whether it could: a
// full channel leaves it to amqp091-go.
func (t *taking) send() bool {
	t.d.Body = t.body
	select {
	case t.to <- t.d:
		return true
	default:
		return false
	}
}

// handBack returns the frames of t's delivery, with its body so far in
// frames of t.part bytes, for amqp091-go.
func (t *taking) handBack(ch uint16) []byte {
	out := t.raw
	for b := t.body; len(b) > 0; {
		n := min(len(b), t.part)
		var h [7]byte
		h[0] = frameBody
		binary.BigEndian.PutUint16(h[1:3], ch)
		binary.BigEndian.PutUint32(h[3:7], uint32(n))
		out = append(append(append(out, h[:]...), b[:n]...), frameEnd)
		b = b[n:]
	}
	return out
}
