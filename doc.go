// Package rabibridge is the root of rabibridge for Go: typed RPC between Go
// services (and Python RabiBridge services) over RabbitMQ.
//
// The root package holds what every other package shares: the error [Code]s a
// remote failure carries, the sentinel errors of client-side conditions
// ([ErrQueueFull], [ErrNoSuchFunction], [ErrConnectionLost], [ErrClosed]) and
// [RemoteError], the one error type for failures raised by the remote side.
//
// The work is done in the sub-packages:
//
//   - registry: typed handlers by name, with their options and JSON Schemas
//   - worker: consumes the function queues and runs the handlers
//   - caller: typed and dynamic calls
//   - bridge: the transport (RabbitMQ, or in-process for tests and demos)
//   - codec: msgpack and JSON codecs, zstd compression, the wire envelopes
//   - schema: JSON Schemas by reflection, validation
//
// A call's errors are tested with errors.Is and errors.As:
//
//	resp, err := caller.Call[AddReq, AddResp](ctx, c, "add", req)
//	var re *rabibridge.RemoteError
//	switch {
//	case errors.Is(err, rabibridge.ErrQueueFull):      // back off and retry
//	case errors.Is(err, rabibridge.ErrNoSuchFunction): // nobody serves "add"
//	case errors.Is(err, context.DeadlineExceeded):     // timed out
//	case errors.As(err, &re):                          // the handler failed: re.Code, re.Message
//	}
package rabibridge
