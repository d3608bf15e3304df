package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rabibridge/rabibridge/internal/bufpool"
)

// Msgpack is the msgpack codec, RabiBridge's default. Struct fields are named
// by their msgpack tag, else their json tag, else the Go field name; integers
// are encoded in their most compact form, as Python's msgpack does.
// Unmarshal into an interface gives int64 (uint64 for an integer above
// math.MaxInt64), float64, string (msgpack str), []byte (msgpack bin),
// bool, time.Time, nil, []any and map[string]any; a time.Time is in UTC.
//
// Decoding into a typed value gives the value that was sent or an error
// naming where it does not fit (a *TypeError): decode.go has the rules.
// Encoding goes through github.com/vmihailenco/msgpack/v5, except for plain
// values (booleans, numbers, strings and structs of them without methods),
// which the codec writes itself to the same bytes. A type given a custom
// encoder with msgpack.Register must have a method for it to apply, and a
// custom decoder applies only through a DecodeMsgpack, UnmarshalMsgpack,
// UnmarshalBinary or UnmarshalText method.
var Msgpack Codec = msgpackCodec{}

type msgpackCodec struct{}

func (msgpackCodec) Name() string        { return "msgpack" }
func (msgpackCodec) ContentType() string { return "application/msgpack" }

type encoder struct {
	enc *msgpack.Encoder
	buf bytes.Buffer
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.SetCustomStructTag("json")
	e.enc.UseCompactInts(true)
	return e
}}

type decoder struct {
	dec *msgpack.Decoder
	r   bytes.Reader
}

var decoders = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	d.dec.SetCustomStructTag("json")
	// Not loose: loose decoding turns a bin into a string. normalize gives
	// interfaces the int64, uint64 and float64 that loose decoding did.
	return d
}}

func (c msgpackCodec) Marshal(v any) ([]byte, error) { return c.AppendValue(nil, v) }

func (msgpackCodec) AppendValue(dst []byte, v any) ([]byte, error) {
	// Byte strings and strings, which large bodies are made of, are
	// appended to dst straight: one copy, and no zeroing of what the copy
	// fills (the encoder's bytes.Buffer zeroes its new buffer before
	// copying into it). A large one grows dst from internal/bufpool, which
	// the transports' users give bodies back to once sent. Plain values
	// (see plain.go) have their own encoder too.
	switch v := v.(type) {
	case []byte:
		if v == nil {
			return append(dst, 0xc0), nil // as msgpack encodes a nil slice
		}
		return append(appendHead(room(dst, len(v)), binForm, len(v)), v...), nil // bin8/16/32
	case string:
		return appendString(room(dst, len(v)), v), nil
	case int:
		return appendCompactInt(dst, int64(v)), nil
	}
	if p := planOf(reflect.TypeOf(v)); p != nil {
		return p.append(dst, reflect.ValueOf(v)), nil
	}
	return appendMsgpack(dst, v)
}

// appendMsgpack appends the encoding of v by msgpack v5.
func appendMsgpack(dst []byte, v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	e.buf = *bytes.NewBuffer(dst)
	err := e.enc.Encode(v)
	out := e.buf.Bytes()
	e.buf = bytes.Buffer{}
	encoders.Put(e)
	if err != nil {
		return dst, fmt.Errorf("codec: msgpack: %w", err)
	}
	return out, nil
}

func (msgpackCodec) Unmarshal(data []byte, v any) error {
	if err := checkMsgpack(data); err != nil {
		return fmt.Errorf("codec: msgpack: %w", err)
	}
	switch v := v.(type) { // the common results, without reflection
	case *int:
		if n, size, ok := readInt(data); ok && size == len(data) && int64(int(n)) == n {
			*v = int(n)
			return nil
		}
	case *string:
		if s, size, ok := readText(data); ok && size == len(data) {
			*v = string(s)
			return nil
		}
	case *any:
		*v = nil // msgpack v5 decodes into what an interface holds, as a retry's second decode would find
		return unmarshalMsgpack(data, v)
	}
	return decodeTyped(data, v)
}

// unmarshalMsgpack decodes checked data into v with msgpack v5.
func unmarshalMsgpack(data []byte, v any) error {
	d := decoders.Get().(*decoder)
	d.r.Reset(data)
	err := d.dec.Decode(v)
	d.r.Reset(nil)
	decoders.Put(d)
	if err != nil {
		return fmt.Errorf("codec: msgpack: %w: %w", ErrMalformed, err)
	}
	msgpackNorm.normalize(v)
	return nil
}

// headRoom is what room leaves beyond a value's bytes: its head (at most
// 5 bytes) and what an envelope adds after it.
const headRoom = 16

// room returns dst with room for a value of n bytes, its head and what an
// envelope adds after it: from the pool when that is large and the pool has
// a buffer, else dst as it is, for append to grow (to whole pages, for a
// large one, which leaves room for the envelope's end).
func room(dst []byte, n int) []byte {
	need := len(dst) + n + headRoom
	if cap(dst) >= need || need < bufpool.Min {
		return dst
	}
	if b := bufpool.Get(need); b != nil {
		return append(b, dst...)
	}
	return dst
}

func (c msgpackCodec) UnmarshalShared(data []byte, v any) error {
	if b, ok := binValue(data); ok {
		switch v := v.(type) {
		case *[]byte:
			*v = b
			return nil
		case *any:
			*v = b
			return nil
		}
	}
	return c.Unmarshal(data, v)
}

// binValue returns the bytes of data when data is exactly one msgpack bin,
// capped so that an append to them cannot write past them into data.
func binValue(data []byte) ([]byte, bool) {
	if len(data) == 0 {
		return nil, false
	}
	h := readHead(data)
	if h.kind != kBin || h.size+h.n != len(data) {
		return nil, false
	}
	return data[h.size:len(data):len(data)], true
}

func (msgpackCodec) AppendArray(dst []byte, n int) []byte { return appendHead(dst, arrayForm, n) }

func (msgpackCodec) AppendSep(dst []byte, _ int) []byte { return dst }
func (msgpackCodec) AppendEnd(dst []byte) []byte        { return dst }
func (msgpackCodec) AppendEmptyMap(dst []byte) []byte   { return append(dst, 0x80) }

func (msgpackCodec) AppendInt(dst []byte, i int) []byte {
	if i >= 0 && i < 128 {
		return append(dst, byte(i))
	}
	return append(dst, 0xd3, byte(i>>56), byte(i>>48), byte(i>>40), byte(i>>32),
		byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
}

func (msgpackCodec) Elements(dst [][]byte, data []byte) ([][]byte, error) {
	if len(data) == 0 {
		return dst, truncated()
	}
	if data[0] == 0xc0 { // nil reads as an empty array
		return dst, nil
	}
	h := readHead(data)
	if h.kind != kArray {
		return dst, fmt.Errorf("%w: want an array, got msgpack byte 0x%02x", ErrMalformed, data[0])
	}
	head, n := h.size, h.n
	if head > len(data) {
		return dst, truncated()
	}
	if n > len(data)-head {
		return dst, truncated()
	}
	off := head
	for range n {
		m, err := msgpackSkip(data[off:], 1)
		if err != nil {
			return dst, err
		}
		dst = append(dst, data[off:off+m])
		off += m
	}
	if off != len(data) {
		return dst, fmt.Errorf("%w: %d bytes after the array", ErrMalformed, len(data)-off)
	}
	return dst, nil
}

func (msgpackCodec) IsEmpty(data []byte) bool {
	return len(data) == 1 && (data[0] == 0x90 || data[0] == 0x80 || data[0] == 0xc0)
}
