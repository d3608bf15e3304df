package rabibridge

import "context"

// Call is a call as interceptors see it, on either side: in a caller's
// chain (caller.Config.Interceptors) before it is sent, and in a worker's
// (worker.Config.Interceptors) before its handler runs.
type Call struct {
	// Function is the function's name.
	Function string
	// Worker is true in a worker's chain and false in a caller's.
	Worker bool
	// Request is the request: in a caller, the value given to caller.Call,
	// or a caller.Args for Invoke; in a worker, the decoded request, of the
	// handler's request type. On both sides an interceptor may replace it
	// before calling next (to fill a default, to redact, to migrate an old
	// shape): in a caller the replacement is what is encoded and sent (a
	// value of the call's Req type by Req's rules, another by its own type's),
	// in a worker what the handler gets (of the handler's request type).
	Request any
	// Response is the result once next has returned without error: in a
	// caller, a pointer to where it was decoded; in a worker, the
	// handler's return value, which is then encoded as the reply (an
	// interceptor may replace it with another value of that type).
	Response any
	// Headers are the call's string headers. A caller's interceptor may
	// set them before calling next (trace context, for one); in a worker
	// they are the call's, not to be modified. In a worker,
	// worker.InfoFrom(ctx) gives the rest of the call's metadata.
	Headers map[string]string
}

// Next runs a call: the next interceptor of the chain, and at its end the
// round trip to the worker (in a caller) or the handler (in a worker).
type Next func(ctx context.Context, call *Call) error

// Interceptor wraps a Next: to log, measure, trace, authorise, limit, or
// (in a caller) retry. One Interceptor serves both sides; Call.Worker tells
// them apart. A chain is built once, when the caller is made or the worker
// starts serving; the first interceptor of a Config's list is the
// outermost. With none, calls take a direct path that costs nothing.
type Interceptor func(next Next) Next
