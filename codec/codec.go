package codec

import "github.com/rabibridge/rabibridge/internal/wire"

// Codec turns values into bytes and back. The two implementations are
// [Msgpack] (RabiBridge's default) and [JSON]; both are safe for concurrent
// use. The set is closed because the envelope encoding of each is part of
// the wire protocol.
type Codec interface {
	// Name is the codec's name in configuration: "msgpack" or "json".
	Name() string
	// ContentType is the MIME type put on messages it encodes.
	ContentType() string
	// Marshal returns the encoding of v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, which must be a non-nil pointer. It
	// checks data first: a malformed or truncated body, or one nested
	// deeper than 100 levels, is an error, never a panic. A value that
	// does not fit v's type (an integer past its range, a fraction into an
	// integer, another kind) is an error that names its path, what came
	// and the Go type ("/items/1/qty: cannot decode string into int"),
	// never a value changed on the way: both codecs follow encoding/json's
	// rules, and take a time.Time as a timestamp (msgpack) or RFC 3339 text.
	Unmarshal(data []byte, v any) error

	wire() wire.Codec
}

var (
	// Msgpack is RabiBridge's default codec (its SERIALISER "msgpack").
	// Byte slices travel as bin, times as msgpack timestamps, and 64-bit
	// integers exactly.
	Msgpack Codec = builtin{wire.Msgpack}
	// JSON is RabiBridge's "json" codec. Byte slices travel as base64
	// strings, as encoding/json writes them.
	JSON Codec = builtin{wire.JSON}
)

// builtin is a codec of the wire package.
type builtin struct{ wire.Codec }

func (b builtin) wire() wire.Codec { return b.Codec }

// Wire returns the codec with its envelope methods (wire.Of).
func (b builtin) Wire() wire.Codec { return b.Codec }

// ByName returns the codec named name ("msgpack" or "json", any case; empty
// means msgpack), and false for any other name.
func ByName(name string) (Codec, bool) {
	c, ok := wire.ByName(name)
	if !ok {
		return nil, false
	}
	return builtin{c}, true
}
