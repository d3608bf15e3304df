package caller

import (
	"context"
	"fmt"

	"github.com/rabibridge/rabibridge"
)

// Args are a call's positional and keyword arguments: Invoke's, as a
// rabibridge.Call's Request in the caller's interceptors. Given as the
// request of Call or Send, they are sent as they are, as Invoke sends them.
type Args struct {
	Args   []any
	Kwargs map[string]any
}

// bodyKey is the context key of a call's encoded request, from Call or
// Invoke to the end of the chain (final): the interceptors see the request
// as a value, and a retry sends the same body again.
type bodyKey struct{}

// intercepted runs call through the interceptors with its encoded body.
func (c *Caller) intercepted(ctx context.Context, call *rabibridge.Call, body []byte) error {
	return c.chain(context.WithValue(ctx, bodyKey{}, body), call)
}

// final is the innermost Next: the round trip itself.
func (c *Caller) final(ctx context.Context, call *rabibridge.Call) error {
	body, ok := ctx.Value(bodyKey{}).([]byte)
	if !ok {
		return fmt.Errorf("caller: %s: an interceptor passed on a context without the call's body: derive it from the one it was given", call.Function)
	}
	return c.roundTrip(ctx, call.Function, body, call.Headers, call.Response)
}
