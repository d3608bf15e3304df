package caller

import (
	"context"

	"github.com/rabibridge/rabibridge"
)

// Client calls one procedure through a Caller: its name, kind and types
// are written once, in the rabibridge.Procedure both sides import, and the
// compiler checks every call against them. It is safe for concurrent use.
type Client[Req, Resp any] struct {
	c    *Caller
	name string
	kind string
}

// NewClient returns a Client of procedure p on c.
func NewClient[Req, Resp any](c *Caller, p rabibridge.Procedure[Req, Resp]) *Client[Req, Resp] {
	return &Client[Req, Resp]{c: c, name: p.Name, kind: p.Kind}
}

// Call calls the procedure with req, as caller.Call does.
func (cl *Client[Req, Resp]) Call(ctx context.Context, req Req) (Resp, error) {
	return callKind[Req, Resp](ctx, cl.c, cl.kind, cl.name, req)
}

// Send sends req to the procedure and wants no reply, as caller.Send does.
func (cl *Client[Req, Resp]) Send(ctx context.Context, req Req) error {
	return sendKind(ctx, cl.c, cl.kind, cl.name, req)
}

// Gather calls the procedure on every live instance that serves it, as
// caller.Gather does.
func (cl *Client[Req, Resp]) Gather(ctx context.Context, req Req) ([]Answer[Resp], error) {
	return Gather[Req, Resp](ctx, cl.c, cl.name, req)
}
