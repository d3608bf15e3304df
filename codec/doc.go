// Package codec names the codecs of rabibridge message bodies: [Msgpack]
// (RabiBridge's default) and [JSON]. Workers and callers take one in their
// Config; a call names its codec in its content type, and a worker answers
// in it, so Go peers of either codec and Python peers (which send msgpack
// or json as configured, with no content type) understand each other.
//
// The envelopes that carry requests and replies (docs/protocol.md) and the
// zstd compression of large bodies are the wire protocol's, applied by
// workers and callers; a program only chooses the codec.
package codec
