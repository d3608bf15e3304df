// Package worker serves the functions of a registry: it declares each
// function's queue, consumes it, runs the handlers and publishes their
// replies.
//
//	w := worker.New(conn, registry.Default, worker.Config{})
//	err := w.Serve(ctx) // blocks until ctx ends, then drains
//
// Each function's handlers run on their own goroutines, at most FetchSize at
// once per consumer (one at a time for Sync functions). A handler's context
// ends at the caller's deadline, if the call carries one, and when a drain
// runs out of time; it carries the call's metadata (see InfoFrom).
//
// Bad input never stops a worker: a body that cannot be decoded or fails
// validation gets an invalid_argument reply, a handler's panic an internal
// one, and the worker goes on. A call is acknowledged only after its reply is
// published.
package worker
