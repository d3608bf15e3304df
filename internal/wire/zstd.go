package wire

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdMagic starts every zstd frame; a receiver recognises a compressed body
// by it.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// zstdWindow is the encoder's window: zstd's own for level 3 (a window log
// of 21). The encoder lives as long as the program and keeps a history as
// large as its window (its default of 8 MiB kept 16 MiB for good after the
// first large body); with lower encoder memory it grows the history only
// as far as the bodies need.
const zstdWindow = 2 << 20

var zenc = sync.OnceValue(func() *zstd.Encoder {
	// Level 3 is RabiBridge's; zstd.SpeedDefault is that level.
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(zstdWindow))
	if err != nil {
		panic(err) // only for invalid options
	}
	return e
})

// zdecs holds one decoder per size limit: the limit is fixed when a decoder
// is made, and a program uses few limits.
var zdecs sync.Map // int -> *zstd.Decoder

func zdec(limit int) (*zstd.Decoder, error) {
	if d, ok := zdecs.Load(limit); ok {
		return d.(*zstd.Decoder), nil
	}
	d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(limit)), zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, err
	}
	if prev, loaded := zdecs.LoadOrStore(limit, d); loaded {
		d.Close()
		return prev.(*zstd.Decoder), nil
	}
	return d, nil
}

// Compress returns body compressed with zstd (level 3, one frame) when it is
// longer than threshold bytes and compression makes it shorter, and body
// itself otherwise. A negative threshold turns compression off; zero means
// DefaultCompressThreshold.
func Compress(body []byte, threshold int) []byte {
	if threshold == 0 {
		threshold = DefaultCompressThreshold
	}
	if threshold < 0 || len(body) <= threshold {
		return body
	}
	out := zenc().EncodeAll(body, make([]byte, 0, len(body)/2))
	if len(out) >= len(body) {
		return body // incompressible: send it as it is
	}
	return out
}

// Compressed reports whether body starts with the zstd frame magic.
func Compressed(body []byte) bool { return bytes.HasPrefix(body, zstdMagic) }

// Decompress returns body decompressed when it starts with the zstd magic,
// and body itself otherwise. The result may be at most limit bytes (zero
// means DefaultMaxBodySize); a larger one, compressed or not, gives an error
// wrapping ErrTooLarge, without decompressing more than the limit.
func Decompress(body []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBodySize
	}
	if !Compressed(body) {
		if len(body) > limit {
			return nil, fmt.Errorf("codec: %w: %d bytes, limit %d", ErrTooLarge, len(body), limit)
		}
		return body, nil
	}
	d, err := zdec(limit)
	if err != nil {
		return nil, fmt.Errorf("codec: zstd: %w", err)
	}
	out, err := d.DecodeAll(body, nil)
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		return nil, fmt.Errorf("codec: zstd: %w: decompresses past %d bytes", ErrTooLarge, limit)
	case err != nil:
		return nil, fmt.Errorf("codec: zstd: %w: %w", ErrMalformed, err)
	case len(out) > limit:
		return nil, fmt.Errorf("codec: zstd: %w: decompresses past %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}
