// Package wire encodes the bodies of rabibridge messages: the msgpack
// (default) and JSON codecs behind codec.Codec, zstd compression above a
// size threshold, the binding of a request to a Go type, and the envelopes
// that RabiBridge defines (see docs/protocol.md):
//
//	request: [args, kwargs]   positional arguments as an array, keyword arguments as a map
//	reply:   [code, result]   code 0: result is the return value; code 1: result is a message
//
// Decoders check their input before decoding it: a body that is malformed,
// truncated, nests deeper than MaxDepth, declares lengths beyond its end or
// decompresses past its size limit gives an error wrapping ErrMalformed or
// ErrTooLarge, never a panic.
package wire
