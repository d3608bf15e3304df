package wire

// The msgpack primitives, in one place: a value's head (its type and
// length) read and written, and big-endian numbers. The checker, the
// envelopes and the plain-value codec all use these.

// The kinds of value a head announces.
const (
	kScalar = iota // nil, bool, integer, float: the head is the whole value
	kStr
	kBin
	kExt
	kArray // the containers come last: msgpackSkip counts on it
	kMap
)

// head is what the first bytes of a msgpack value say of it.
type head struct {
	kind int
	size int // bytes of the head; for a scalar, of the whole value
	n    int // str, bin, ext: payload bytes; array: items; map: pairs
}

// code is what a head's first byte says: the head itself, its length
// included for the fix forms, or for the others how many bytes after the
// code hold the length. A kind of -1 marks 0xc1, which msgpack never uses.
type code struct {
	head
	lenBytes int
}

// codes describes every first byte.
var codes = func() (t [256]code) {
	for c := range 256 {
		switch {
		case c <= 0x7f || c >= 0xe0:
			t[c] = code{head: head{kScalar, 1, 0}}
		case c <= 0x8f:
			t[c] = code{head: head{kMap, 1, c & 0x0f}}
		case c <= 0x9f:
			t[c] = code{head: head{kArray, 1, c & 0x0f}}
		case c <= 0xbf:
			t[c] = code{head: head{kStr, 1, c & 0x1f}}
		}
	}
	scalar := func(size int) code { return code{head: head{kScalar, size, 0}} }
	long := func(kind, size, lenBytes int) code { return code{head{kind, size, 0}, lenBytes} }
	fixext := func(n int) code { return code{head: head{kExt, 2, n}} } // a type byte, then n bytes
	for c, d := range map[int]code{
		0xc0: scalar(1), 0xc1: {head: head{-1, 0, 0}}, 0xc2: scalar(1), 0xc3: scalar(1),
		0xc4: long(kBin, 2, 1), 0xc5: long(kBin, 3, 2), 0xc6: long(kBin, 5, 4),
		0xc7: long(kExt, 3, 1), 0xc8: long(kExt, 4, 2), 0xc9: long(kExt, 6, 4), // the length, then a type byte
		0xca: scalar(5), 0xcb: scalar(9), // float32, float64
		0xcc: scalar(2), 0xcd: scalar(3), 0xce: scalar(5), 0xcf: scalar(9), // uint8–64
		0xd0: scalar(2), 0xd1: scalar(3), 0xd2: scalar(5), 0xd3: scalar(9), // int8–64
		0xd4: fixext(1), 0xd5: fixext(2), 0xd6: fixext(4), 0xd7: fixext(8), 0xd8: fixext(16),
		0xd9: long(kStr, 2, 1), 0xda: long(kStr, 3, 2), 0xdb: long(kStr, 5, 4),
		0xdc: long(kArray, 3, 2), 0xdd: long(kArray, 5, 4),
		0xde: long(kMap, 3, 2), 0xdf: long(kMap, 5, 4),
	} {
		t[c] = d
	}
	return t
}()

// readHead reads the head at the start of b, which must not be empty. The
// head may be longer than b (then a length reads as more than any body
// holds): callers check h.size and h.n against len(b). It inlines, for the
// checker's and the decoders' loops.
func readHead(b []byte) head {
	if c := &codes[b[0]]; c.lenBytes == 0 {
		return c.head
	}
	return readLongHead(b)
}

// readLongHead is readHead for the heads whose length follows the code.
//
//go:noinline
func readLongHead(b []byte) head {
	c := &codes[b[0]]
	h := c.head
	h.n = int(be(b, 1, c.lenBytes))
	return h
}

// be reads the big-endian unsigned integer of size (1, 2, 4 or 8) bytes at
// b[i:], or returns a value larger than any body when b is too short (the
// caller then reports truncation).
func be(b []byte, i, size int) uint64 {
	if len(b) < i+size {
		return 1 << 40
	}
	var n uint64
	for _, c := range b[i : i+size] {
		n = n<<8 | uint64(c)
	}
	return n
}

// appendBig appends the low size bytes of n, big-endian.
func appendBig(dst []byte, n uint64, size int) []byte {
	for i := size - 1; i >= 0; i-- {
		dst = append(dst, byte(n>>(8*i)))
	}
	return dst
}

// form is how a kind's heads are written: fix|n up to fixMax (when fix is
// not 0), else the 8-, 16- or 32-bit form (code8 0: the kind has none).
type form struct {
	fix                   byte
	fixMax                int
	code8, code16, code32 byte
}

// The forms of the kinds with a length.
var (
	strForm   = form{0xa0, 31, 0xd9, 0xda, 0xdb}
	binForm   = form{0, -1, 0xc4, 0xc5, 0xc6}
	arrayForm = form{0x90, 15, 0, 0xdc, 0xdd}
	mapForm   = form{0x80, 15, 0, 0xde, 0xdf}
)

// appendHead appends the head of a value of form f and length n in its
// smallest form, as msgpack v5 writes it.
func appendHead(dst []byte, f form, n int) []byte {
	switch {
	case n <= f.fixMax:
		return append(dst, f.fix|byte(n))
	case f.code8 != 0 && n < 1<<8:
		return append(dst, f.code8, byte(n))
	case n < 1<<16:
		return appendBig(append(dst, f.code16), uint64(n), 2)
	}
	return appendBig(append(dst, f.code32), uint64(n), 4)
}
