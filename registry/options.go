package registry

import (
	"fmt"
	"time"

	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/runonce"
	"github.com/rabibridge/rabibridge/once"
)

// Kind is RabiBridge's function kind: it selects the queue and routing key
// (rpc_<kind>_<name>, <kind>_<name>) a function is served on.
type Kind string

// The function kinds.
const (
	// Async is the default kind: handlers run concurrently, up to FetchSize
	// at once per consumer.
	Async Kind = "async"
	// Sync functions run one call at a time per worker process, as
	// RabiBridge's sync functions do.
	Sync Kind = "sync"
)

// QueueType is the type of a function's queue.
type QueueType string

// The queue types.
const (
	// Classic is RabiBridge's queue: durable, auto-delete, on one node.
	Classic QueueType = "classic"
	// Quorum is RabbitMQ's replicated queue: it survives the loss of a
	// minority of a cluster's nodes, and its workers.
	Quorum QueueType = "quorum"
)

// DefaultFetchSize is Options.FetchSize when it is zero: 64 calls taken
// at once per consumer.
const DefaultFetchSize = protocol.DefaultFetchSize

// Options configure a registered function. The zero value is useful: every
// zero field means the default documented on it.
type Options struct {
	// QueueSize is the most calls that may wait in the function's queue
	// (x-max-length); a call beyond it fails at once with ErrQueueFull.
	// Zero means unlimited. Changing it on an existing queue needs
	// ReRegister.
	QueueSize int
	// FetchSize is how many calls a consumer takes from the queue at once
	// (basic.qos prefetch), and so how many run at once per consumer. Zero
	// means DefaultFetchSize.
	FetchSize int
	// MaxQueueWait is how long a call may wait in the queue before the
	// broker drops it (RabiBridge's timeout: x-message-ttl, whole
	// milliseconds). Zero means no limit. It bounds the wait for a worker,
	// not the call: a call's deadline is its caller's ctx (or
	// caller.Config.Timeout). Changing it on an existing queue needs
	// ReRegister.
	MaxQueueWait time.Duration
	// Timeout is MaxQueueWait's old name.
	//
	// Deprecated: use MaxQueueWait; Timeout goes in the next release.
	Timeout time.Duration
	// Validate checks every request against the request type's JSON Schema
	// (see schema.For) before the handler runs; a request that fails gets an
	// invalid_argument error naming every offending field and the
	// constraint it breaks. A request built from the Go type passes unless
	// a `jsonschema` tag tightens a field (required, minimum, maxLength,
	// …); a field the type does not have is refused. The decoded request is
	// checked in the form encoding/json gives it, whichever codec carried
	// it.
	Validate bool
	// ReRegister deletes the function's queue and declares it anew when the
	// worker starts, so that changed QueueSize or MaxQueueWait take effect.
	// Calls waiting in the old queue are lost. Do not set it in several
	// worker processes of one function: each would delete the queue the
	// others consume. Redeclare once, before starting them (serve-demo
	// --procs N --re-register does that in its supervisor).
	ReRegister bool
	// Kind selects RabiBridge's function kind; empty means Async.
	Kind Kind
	// QueueType selects the queue's type: Classic (empty; RabiBridge's
	// declaration, wire-compatible with Python peers) or Quorum (replicated
	// across a cluster's nodes, durable, not auto-delete: it outlives its
	// workers; delete it with `rabbitmqctl delete_queue` when the function
	// is retired). A queue of the other type already there is a declaration
	// conflict.
	QueueType QueueType
	// Description documents the function, in discovery and generated docs.
	Description string
	// Once, when set, makes the function run once per key, remembered in
	// this store: a call redelivered after its worker died, or retried by
	// its caller with the same key, gets the first run's result and does
	// not run the handler again; a call that comes while that run is under
	// way waits for it. The key is what the request's IdempotencyKey()
	// string method returns, if its type has one and the key is not empty;
	// otherwise the call's identity on the wire (reply address and
	// correlation id), which a redelivery keeps and a retry does not. A
	// handler's error is not remembered: the next call with its key runs
	// the handler. A store that fails fails the call with CodeUnavailable,
	// and the handler does not run. once.NewMemory serves one process;
	// once/redisstore a fleet. A result is remembered in its msgpack form
	// and decoded into the response type again for each call after the
	// first. Each instance runs a caller.Gather once.
	Once once.Store
	// OnceTTL is how long a run-once result is remembered; zero means 24
	// hours.
	OnceTTL time.Duration
	// DeadLetters, when set, keeps the calls of the function that nobody
	// would otherwise see fail in a queue of their own, "<queue>.dead"
	// (durable, kept when nobody consumes it), with the error, its code and
	// when: a call sent with caller.Send whose handler failed or panicked;
	// a call refused with invalid_argument (malformed, failing validation,
	// or refused so by its handler; its caller gets the error too); and a
	// call delivered more than MaxDeliveries times whose worker went away
	// each time (a poison message). `rabibridge dead` lists, replays and
	// purges them. Off, a failed Send is only a log line, as in RabiBridge,
	// and the wire is RabiBridge's.
	DeadLetters bool
	// MaxDeliveries, with DeadLetters, is how many times a call may be
	// delivered to workers that went away before it is kept as a dead
	// letter instead of delivered again; zero means 5. On a classic queue
	// (which counts nothing) a redelivered call is counted in a header and
	// published to the back of its queue again.
	MaxDeliveries int
}

// DefaultMaxDeliveries is Options.MaxDeliveries when it is zero.
const DefaultMaxDeliveries = 5

// withDefaults returns o with zero fields replaced by their defaults and
// checks the rest.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.MaxQueueWait == 0:
		o.MaxQueueWait = o.Timeout
	case o.Timeout != 0 && o.Timeout != o.MaxQueueWait:
		return o, fmt.Errorf("MaxQueueWait %v and its deprecated old name Timeout %v disagree: set MaxQueueWait alone", o.MaxQueueWait, o.Timeout)
	}
	o.Timeout = o.MaxQueueWait
	if o.QueueSize < 0 || o.FetchSize < 0 || o.MaxQueueWait < 0 || o.OnceTTL < 0 || o.MaxDeliveries < 0 {
		return o, fmt.Errorf("QueueSize, FetchSize, MaxQueueWait, OnceTTL and MaxDeliveries must not be negative")
	}
	if o.MaxDeliveries > 0 && !o.DeadLetters {
		return o, fmt.Errorf("MaxDeliveries is set, but DeadLetters is not")
	}
	if o.DeadLetters && o.MaxDeliveries == 0 {
		o.MaxDeliveries = DefaultMaxDeliveries
	}
	if o.OnceTTL > 0 && o.Once == nil {
		return o, fmt.Errorf("OnceTTL is set, but Once has no store")
	}
	if o.Once != nil && o.OnceTTL == 0 {
		o.OnceTTL = runonce.DefaultTTL
	}
	if o.MaxQueueWait > 0 && o.MaxQueueWait < time.Millisecond {
		return o, fmt.Errorf("MaxQueueWait %v is below the broker's resolution of 1ms", o.MaxQueueWait)
	}
	if o.FetchSize == 0 {
		o.FetchSize = protocol.DefaultFetchSize
	}
	switch o.QueueType {
	case "":
		o.QueueType = Classic
	case Classic, Quorum:
	default:
		return o, fmt.Errorf("QueueType %q is neither %q nor %q", o.QueueType, Classic, Quorum)
	}
	kind, err := protocol.CheckKind(string(o.Kind))
	if err != nil {
		return o, err
	}
	o.Kind = Kind(kind)
	return o, nil
}
