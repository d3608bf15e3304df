package wire

import "fmt"

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
	h := readHead(b)
	if h.kind < kArray { // a scalar (whose n is 0), str, bin or ext
		if h.kind < 0 {
			return 0, fmt.Errorf("%w: invalid msgpack byte 0x%02x", ErrMalformed, b[0])
		}
		if h.size > len(b) || h.n > len(b)-h.size {
			return 0, truncated()
		}
		return h.size + h.n, nil
	}
	head, items := h.size, h.n<<(h.kind-kArray) // a map's pairs are two items each
	if head > len(b) || items > len(b)-head {   // every item takes at least one byte
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
