// Package caller calls functions served by workers: typed with Call, or
// dynamically with Caller.Invoke (for tools, and for functions written in
// other languages).
//
//	c, err := caller.New(conn, caller.Config{})
//	if err != nil { ... }
//	defer c.Close()
//	sum, err := caller.Call[AddReq, int](ctx, c, "add", AddReq{A: 1, B: 2})
//
// A call waits until its reply comes or ctx ends; the ctx deadline travels
// with the call, so a Go worker skips it once nobody waits (with
// Config.Expire the broker drops it too, for workers of other languages).
// Errors can be tested with errors.Is (rabibridge.ErrQueueFull,
// rabibridge.ErrNoSuchFunction, rabibridge.ErrConnectionLost,
// rabibridge.ErrClosed, context.DeadlineExceeded) and errors.As
// (*rabibridge.RemoteError for failures on the remote side).
package caller
