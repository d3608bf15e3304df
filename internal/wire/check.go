package wire

import (
	"encoding/binary"
	"fmt"
)

// msgpackSkip returns the length of the msgpack value at the start of b,
// checking that it is well formed, lies within b, and nests at most MaxDepth
// deep. It allocates nothing, so it runs before any decoder sees a body from
// the network: msgpack decoders recurse without a depth limit and trust
// declared lengths.
func msgpackSkip(b []byte, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	if len(b) == 0 {
		return 0, truncated()
	}
	c := b[0]
	var head, n, items int // head bytes, payload bytes, or items of an array/map
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return 1, nil
	case c <= 0x8f: // fixmap
		head, items = 1, 2*int(c&0x0f)
	case c <= 0x9f: // fixarray
		head, items = 1, int(c&0x0f)
	case c <= 0xbf: // fixstr
		head, n = 1, int(c&0x1f)
	default:
		switch c {
		case 0xc4, 0xd9: // bin8, str8
			head, n = 2, int(at(b, 1, 1))
		case 0xc5, 0xda: // bin16, str16
			head, n = 3, int(at(b, 1, 2))
		case 0xc6, 0xdb: // bin32, str32
			head, n = 5, int(at(b, 1, 4))
		case 0xc7: // ext8: length, type
			head, n = 3, int(at(b, 1, 1))
		case 0xc8:
			head, n = 4, int(at(b, 1, 2))
		case 0xc9:
			head, n = 6, int(at(b, 1, 4))
		case 0xcc, 0xd0:
			head = 2
		case 0xcd, 0xd1:
			head = 3
		case 0xca, 0xce, 0xd2:
			head = 5
		case 0xcb, 0xcf, 0xd3:
			head = 9
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16
			head = 2 + 1<<(c-0xd4)
		case 0xdc:
			head, items = 3, int(at(b, 1, 2))
		case 0xdd:
			head, items = 5, int(at(b, 1, 4))
		case 0xde:
			head, items = 3, 2*int(at(b, 1, 2))
		case 0xdf:
			head, items = 5, 2*int(at(b, 1, 4))
		default: // 0xc1 is never used
			return 0, fmt.Errorf("%w: invalid msgpack byte 0x%02x", ErrMalformed, c)
		}
	}
	if head > len(b) || n > len(b)-head {
		return 0, truncated()
	}
	if items == 0 {
		return head + n, nil
	}
	if items > len(b)-head { // every item takes at least one byte
		return 0, truncated()
	}
	off := head
	for range items {
		m, err := msgpackSkip(b[off:], depth+1)
		if err != nil {
			return 0, err
		}
		off += m
	}
	return off, nil
}

// at reads the big-endian unsigned integer of size bytes at b[i:], or returns
// a value larger than any body when b is too short (the caller then reports
// truncation).
func at(b []byte, i, size int) uint64 {
	if len(b) < i+size {
		return 1 << 40
	}
	switch size {
	case 1:
		return uint64(b[i])
	case 2:
		return uint64(binary.BigEndian.Uint16(b[i:]))
	default:
		return uint64(binary.BigEndian.Uint32(b[i:]))
	}
}

func truncated() error { return fmt.Errorf("%w: truncated", ErrMalformed) }

// checkMsgpack reports whether b is exactly one well-formed msgpack value.
func checkMsgpack(b []byte) error {
	n, err := msgpackSkip(b, 0)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("%w: %d bytes after the value", ErrMalformed, len(b)-n)
	}
	return nil
}
