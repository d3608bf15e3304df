package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"strconv"
	"sync/atomic"
)

// inbound reads a connection's AMQP frames for amqp091-go, and keeps a
// message body over the connection's limit out of memory: amqp091-go reads
// a body whole, growing it as it goes, before anyone sees it, so a worker
// offered 100 MiB calls would hold several of them (and their garbage) only
// to refuse them. Such a body's header frame is rewritten to announce a
// short marker instead, which one body frame carries, and the body's own
// frames are skipped as they arrive. message turns the marker into
// Message.TooLarge.
//
// Frames (AMQP 0-9-1, 4.2.3): type (1 byte), channel (2), payload size
// (4), the payload, and the end byte 0xCE. A content header's payload
// starts with class (2), weight (2) and the body size (8).
type inbound struct {
	r     *bufio.Reader
	limit *atomic.Int64 // the largest body let through; 0: any

	pending []byte            // bytes to hand out before reading on
	pass    int               // bytes of the current frame still to pass through
	drop    map[uint16]uint64 // per channel: body bytes still to skip
	head    [7]byte
	buf     []byte

	direct *directs  // the consumers whose deliveries are taken (see direct.go); nil: none
	taking []*taking // by channel: the delivery being taken
}

const (
	frameHeader  = 2
	frameBody    = 3
	frameEnd     = 0xCE
	headerPrefix = 12 // class, weight, body size
	bodySizeAt   = 4  // in a content header's payload

	// maxFrame bounds the content header read whole: a larger frame is
	// past any frame_max, and amqp091-go refuses it as it passes.
	maxFrame = 1 << 20
)

// tooLargeMark starts the marker body: 0xC1 is neither msgpack nor JSON,
// so the marker cannot be a real body.
var tooLargeMark = []byte("\xc1rabibridge: body too large: ")

func newInbound(r io.Reader, limit *atomic.Int64) *inbound {
	return &inbound{r: bufio.NewReaderSize(r, 64<<10), limit: limit}
}

func (in *inbound) Read(p []byte) (int, error) {
	for {
		if len(in.pending) > 0 {
			n := copy(p, in.pending)
			in.pending = in.pending[n:]
			if n < len(p) && in.pass > 0 && in.r.Buffered() > 0 {
				m, _ := in.r.Read(p[n:min(len(p), n+in.pass)]) // buffered: does not block
				in.pass -= m
				n += m
			}
			return n, nil
		}
		if in.pass > 0 {
			n, err := in.r.Read(p[:min(len(p), in.pass)])
			in.pass -= n
			return n, err
		}
		if err := in.next(); err != nil {
			return 0, err
		}
	}
}

// next reads the next frame's header and decides what of it to hand out.
func (in *inbound) next() error {
	if _, err := io.ReadFull(in.r, in.head[:]); err != nil {
		return err
	}
	typ, ch := in.head[0], binary.BigEndian.Uint16(in.head[1:3])
	size := int(binary.BigEndian.Uint32(in.head[3:7]))
	if t := in.takingOn(ch); t != nil {
		switch {
		case typ == frameHeader && t.size < 0 && size >= headerPrefix && size <= maxFrame:
			return in.header(ch, size)
		case typ == frameBody && t.size >= 0:
			return in.body(ch, t, size)
		}
		// Not the frame that comes next: amqp091-go makes of it what it
		// would have.
		in.pending, in.pass = append(t.handBack(ch), in.head[:]...), size+1
		t.to, t.body = nil, nil
		return nil
	}
	switch {
	case typ == frameMethod && size <= maxDeliver && in.direct.any():
		b, err := in.r.Peek(size + 1)
		if err != nil {
			return err
		}
		if in.deliver(ch, b, size) {
			_, err := in.r.Discard(size + 1)
			return err
		}
	case typ == frameHeader && size >= headerPrefix && size <= maxFrame:
		return in.header(ch, size)
	case typ == frameBody && in.drop[ch] > 0:
		if _, err := in.r.Discard(size + 1); err != nil {
			return err
		}
		if left := in.drop[ch] - min(in.drop[ch], uint64(size)); left > 0 {
			in.drop[ch] = left
		} else {
			delete(in.drop, ch)
		}
		return nil
	}
	in.pending, in.pass = in.head[:], size+1
	return nil
}

// header hands out a content header, rewritten when its body is too large.
func (in *inbound) header(ch uint16, size int) error {
	in.buf = append(in.buf[:0], in.head[:]...)
	in.buf = append(in.buf, make([]byte, size+1)...)
	if _, err := io.ReadFull(in.r, in.buf[7:]); err != nil {
		return err
	}
	in.pending = in.buf
	payload := in.buf[7 : 7+size]
	n := binary.BigEndian.Uint64(payload[bodySizeAt : bodySizeAt+8])
	limit := in.limit.Load()
	if limit <= 0 || n <= uint64(limit) {
		if t := in.takingOn(ch); t != nil {
			in.take(ch, t, payload)
		}
		return nil
	}
	if in.drop == nil {
		in.drop = map[uint16]uint64{}
	}
	in.drop[ch] = n
	mark := strconv.AppendUint(append([]byte(nil), tooLargeMark...), n, 10)
	binary.BigEndian.PutUint64(payload[bodySizeAt:bodySizeAt+8], uint64(len(mark)))
	var body [7]byte
	body[0] = frameBody
	binary.BigEndian.PutUint16(body[1:3], ch)
	binary.BigEndian.PutUint32(body[3:7], uint32(len(mark)))
	in.buf = append(append(append(in.buf, body[:]...), mark...), frameEnd)
	in.pending = in.buf
	if t := in.takingOn(ch); t != nil { // too large to take
		in.pending = append(t.raw, in.buf...)
		t.to = nil
	}
	return nil
}

// take goes on taking t with its content header, whose payload is p, or
// hands it back to amqp091-go.
func (in *inbound) take(ch uint16, t *taking, p []byte) {
	if len(p) < headerPrefix+2 || !t.content(p) {
		in.pending = append(t.raw, in.buf...)
		t.to = nil
		return
	}
	t.raw = append(t.raw, in.buf...)
	in.pending = nil
	if t.size == 0 {
		in.finish(ch, t)
		return
	}
	t.body = make([]byte, 0, t.size)
}

// tooLarge returns the size a marker body names, or 0 for any other body.
func tooLarge(body []byte) int64 {
	if len(body) == 0 || body[0] != tooLargeMark[0] || !bytes.HasPrefix(body, tooLargeMark) {
		return 0
	}
	n, err := strconv.ParseInt(string(body[len(tooLargeMark):]), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// bodyLimit is a read limit for a consumer or requester that takes bodies
// up to n bytes; zero means any.
func bodyLimit(n int) int {
	if n <= 0 {
		return math.MaxInt64
	}
	return n
}
