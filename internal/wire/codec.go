package wire

import (
	"errors"
	"strings"
)

// Limits of the decoders.
const (
	// MaxDepth is how deeply arrays and maps may nest in a decoded body.
	MaxDepth = 100
	// DefaultMaxBodySize is the default limit of a body's size, after
	// decompression: 16 MiB.
	DefaultMaxBodySize = 16 << 20
	// DefaultCompressThreshold is the body size above which bodies are
	// compressed: 1024 bytes, as in RabiBridge.
	DefaultCompressThreshold = 1024
)

var (
	// ErrMalformed is wrapped by every error about a body that cannot be
	// decoded: not msgpack or JSON, truncated, too deep, or not the shape of
	// an envelope.
	ErrMalformed = errors.New("malformed body")
	// ErrTooLarge is wrapped by errors about a body over its size limit.
	ErrTooLarge = errors.New("body too large")
)

// Codec turns values into bytes and back: codec.Codec, with the methods
// the envelopes are made of. The two implementations are Msgpack
// (RabiBridge's default) and JSON; both are safe for concurrent use.
type Codec interface {
	// Name is the codec's name in configuration: "msgpack" or "json".
	Name() string
	// ContentType is the MIME type put on messages it encodes.
	ContentType() string
	// Marshal returns the encoding of v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, which must be a non-nil pointer. It
	// checks data first: see the package doc for the errors.
	Unmarshal(data []byte, v any) error

	// AppendValue appends the encoding of v to dst.
	AppendValue(dst []byte, v any) ([]byte, error)
	// AppendArray appends the start of an array of n elements; appendSep the
	// separator before element i; appendEnd the end of the array.
	AppendArray(dst []byte, n int) []byte
	AppendSep(dst []byte, i int) []byte
	AppendEnd(dst []byte) []byte
	// AppendEmptyMap appends an empty map; appendInt a small integer.
	AppendEmptyMap(dst []byte) []byte
	AppendInt(dst []byte, i int) []byte
	// Elements splits a checked array into the encodings of its elements,
	// appending them to dst.
	Elements(dst [][]byte, data []byte) ([][]byte, error)
	// IsEmpty reports whether data is an empty array or map, or nil.
	IsEmpty(data []byte) bool
	// UnmarshalShared is Unmarshal for data that nobody modifies
	// afterwards, such as a message body: a byte string decoded into a
	// []byte or an any may share data's memory instead of being copied
	// (msgpack bin; JSON has no byte strings to share). A 1 MiB echo is
	// then copied twice on its way, by the two encoders, not four times.
	UnmarshalShared(data []byte, v any) error
}

// ByName returns the codec named name ("msgpack" or "json", any case), and
// false for any other name.
func ByName(name string) (Codec, bool) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "msgpack", "":
		return Msgpack, true
	case "json":
		return JSON, true
	}
	return nil, false
}

// ByContentType returns the codec whose ContentType is ct, and false when
// there is none (RabiBridge sends no content type: use the configured codec).
func ByContentType(ct string) (Codec, bool) {
	switch ct {
	case Msgpack.ContentType(), "application/x-msgpack", "application/vnd.msgpack":
		return Msgpack, true
	case JSON.ContentType():
		return JSON, true
	}
	return nil, false
}

// Of returns the Codec under a codec.Codec, or nil for nil.
func Of(c interface{ Name() string }) Codec {
	if c == nil {
		return nil
	}
	return c.(interface{ Wire() Codec }).Wire()
}

// Settings are how one side, a worker or a caller, encodes and limits
// bodies: its Config's fields, resolved the same way on both sides by
// Resolve.
type Settings struct {
	Codec             Codec // nil means Msgpack
	CompressThreshold int   // zero means DefaultCompressThreshold; negative turns compression off
	MaxBodySize       int   // zero or negative means DefaultMaxBodySize
}

// Resolve returns the settings of a Config's fields: a codec.Codec (nil
// for the default), its compression threshold and its body size limit.
func Resolve(c interface{ Name() string }, compressThreshold, maxBodySize int) Settings {
	return Settings{Codec: Of(c), CompressThreshold: compressThreshold, MaxBodySize: maxBodySize}.resolve()
}

// resolve returns s with its defaults filled in.
func (s Settings) resolve() Settings {
	if s.Codec == nil {
		s.Codec = Msgpack
	}
	if s.CompressThreshold == 0 {
		s.CompressThreshold = DefaultCompressThreshold
	}
	if s.MaxBodySize <= 0 {
		s.MaxBodySize = DefaultMaxBodySize
	}
	return s
}
