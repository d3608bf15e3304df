package caller

import (
	"context"
	"fmt"
	"reflect"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/wire"
)

// Args are a call's positional and keyword arguments: Invoke's, as a
// rabibridge.Call's Request in the caller's interceptors. Given as the
// request of Call or Send, they are sent as they are, as Invoke sends them.
type Args struct {
	Args   []any
	Kwargs map[string]any
}

// encoderKey is the context key of a call's request encoder, from Call,
// Send or Invoke to the end of the chain (final), which encodes the
// request the interceptors leave in the rabibridge.Call: one that
// replaces it (to fill a default, to redact, to migrate an old shape) is
// what is sent, as it is what a worker's handler gets in a worker's chain.
type encoderKey struct{}

// encoder encodes a call's request for the round trip.
type encoder func(req any) ([]byte, error)

// encoderOf returns the encoder of requests of a Call[Req]: a Req by
// Req's rules (a struct or map as keyword arguments, any other type as the
// one positional argument; an Args as its arguments), another type by its
// own.
func encoderOf[Req any](c *Caller) encoder {
	return func(req any) ([]byte, error) {
		if r, ok := req.(Req); ok {
			return encode(c, r)
		}
		if a, ok := req.(Args); ok {
			return encode(c, a)
		}
		buf := make([]byte, 0, 128)
		if wire.AsKwargs(reflect.TypeOf(req)) {
			return wire.AppendRequest(c.body.Codec, buf, nil, req)
		}
		return wire.AppendRequestArg(c.body.Codec, buf, req)
	}
}

// pending is what the end of the chain needs of a call besides the
// rabibridge.Call: its kind and its request's encoder.
type pending struct {
	kind string
	enc  encoder
	c    *Caller
}

// intercepted runs call, of a function of kind, through the interceptors.
func (c *Caller) intercepted(ctx context.Context, call *rabibridge.Call, kind string, enc encoder) error {
	return c.chain(context.WithValue(ctx, encoderKey{}, pending{kind, enc, c}), call)
}

// final is the innermost Next: the round trip itself, of the request as
// the interceptors left it.
func (c *Caller) final(ctx context.Context, call *rabibridge.Call) error {
	p, ok := ctx.Value(encoderKey{}).(pending)
	if !ok {
		return fmt.Errorf("caller: %s: an interceptor passed on a context without the call's encoder: derive it from the one it was given", call.Function)
	}
	body, err := p.enc(call.Request)
	if err != nil {
		return fmt.Errorf("caller: %s: encoding the request: %w", call.Function, err)
	}
	err = c.roundTrip(ctx, p.kind, call.Function, body, call.Headers, call.Response)
	c.release(body)
	return err
}
