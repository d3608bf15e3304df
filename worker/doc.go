// Package worker serves the functions of a registry: it declares each
// function's queue, consumes it, runs the handlers and publishes their
// replies.
//
//	w := worker.New(conn, registry.Default, worker.Config{})
//	err := w.Serve(ctx) // blocks until ctx ends, then drains
//
// Each consumer runs its function's handlers on goroutines that take the
// calls from the transport themselves, with no hand-over in between. Quick
// calls run one after another on one goroutine, which stays hot; a call
// that runs past 100µs gets another goroutine taking calls beside it, so
// slow handlers run side by side: up to Config.Concurrency per consumer
// (default: the function's FetchSize; one at a time for Sync functions).
// Idle goroutines keep their grown stacks until Config.IdleTimeout. A
// handler's context
// ends at the caller's deadline, if the call carries one, and when a drain
// runs out of time; it carries the call's metadata (see InfoFrom).
//
// Bad input never stops a worker: a body that cannot be decoded or fails
// validation gets an invalid_argument reply, a handler's panic an internal
// one, and the worker goes on. A call is acknowledged only after its reply is
// published.
package worker
