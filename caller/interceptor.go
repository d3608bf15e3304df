package caller

import "context"

// Invocation is a call as interceptors see it.
type Invocation struct {
	// Function is the function's name.
	Function string
	// Request is the request: the value given to Call, or Args for Invoke.
	Request any
	// Headers are sent with the call; an interceptor sets them (trace
	// context, for one) before calling next.
	Headers map[string]string
	// Response points to where the result is decoded: after next returns
	// without error it holds the result.
	Response any

	body []byte // the encoded request
}

// Args are Invoke's arguments, as an Invocation's Request.
type Args struct {
	Args   []any
	Kwargs map[string]any
}

// Invoker makes a call.
type Invoker func(ctx context.Context, inv *Invocation) error

// Interceptor wraps an Invoker. The chain is built once, in New.
type Interceptor func(next Invoker) Invoker

// final is the innermost Invoker: the round trip itself.
func (c *Caller) final(ctx context.Context, inv *Invocation) error {
	return c.roundTrip(ctx, inv.Function, inv.body, inv.Headers, inv.Response)
}
