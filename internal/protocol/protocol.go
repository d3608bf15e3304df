// Package protocol is RabiBridge's wire protocol, in one place: the
// exchanges, the names of queues and routing keys, the queue arguments, the
// headers, and the deadline a Go caller carries in a call's correlation id.
// The transport, the worker, the caller and the document generators all
// take them from here, so a document cannot drift from the wire.
// docs/protocol.md describes it for people.
package protocol

import (
	"fmt"
	"strings"
	"time"
)

// The exchanges.
const (
	// Exchange is the durable direct exchange every call is published to.
	Exchange     = "rpc"
	ExchangeType = "direct"
	// DiscoveryExchange is the fanout exchange of discovery: every worker
	// answers who it is and what it serves.
	DiscoveryExchange = "rabibridge.discovery"
	// CancelExchange is the fanout exchange of cancellations, a Go
	// extension: a caller whose context is cancelled with a call under way
	// publishes there the call's correlation id, its reply address set as
	// the call's was; Go workers end the handler's context.
	CancelExchange = "rabibridge.cancel"
)

// NoReply is the reply address of a call that wants no reply
// (caller.Send), an extension of RabiBridge's protocol: a Go worker runs
// the handler and answers nothing; a Python RabiBridge worker publishes
// its reply to this name on the default exchange, where no queue has it,
// so the broker drops it.
const NoReply = "rabibridge.noreply"

// DefaultFetchSize is the prefetch count, and so the number of handlers run
// at once per consumer, of a function registered with FetchSize 0.
const DefaultFetchSize = 64

// DefaultKind is the kind of a function that names none.
const DefaultKind = "async"

// Kind is kind, or DefaultKind when it is empty.
func Kind(kind string) string {
	if kind == "" {
		return DefaultKind
	}
	return kind
}

// CheckKind returns kind, or DefaultKind when it is empty, and an error
// for a kind RabiBridge does not have: registry.Options.Kind and
// caller.Config.Kind resolve through it, so both sides give the same
// answer.
func CheckKind(kind string) (string, error) {
	switch k := Kind(kind); k {
	case "async", "sync":
		return k, nil
	}
	return kind, fmt.Errorf("Kind %q is neither %q nor %q", kind, "async", "sync")
}

// RoutingKey returns the routing key of function name of RabiBridge's kind
// ("async" or "sync"): "<kind>_<name>".
func RoutingKey(kind, name string) string { return Kind(kind) + "_" + name }

// QueueName returns the queue of function name of the given kind:
// "rpc_<kind>_<name>".
func QueueName(kind, name string) string { return "rpc_" + Kind(kind) + "_" + name }

// QueueArgs returns the arguments RabiBridge declares a function's queue
// with: always x-overflow reject-publish, x-max-length and x-message-ttl
// (whole milliseconds) only when set, and x-queue-type for a quorum queue
// (a Go extension).
func QueueArgs(maxLength int, ttl time.Duration, quorum bool) map[string]any {
	args := map[string]any{"x-overflow": "reject-publish"}
	if maxLength > 0 {
		args["x-max-length"] = int64(maxLength)
	}
	if ttl > 0 {
		args["x-message-ttl"] = ttl.Milliseconds()
	}
	if quorum {
		args["x-queue-type"] = "quorum"
	}
	return args
}

// AutoDelete reports whether a function's queue goes when its last
// consumer does: classic queues, as RabiBridge declares them; quorum queues
// stay.
func AutoDelete(quorum bool) bool { return !quorum }

// Header names rabibridge puts on messages, beside RabiBridge's properties.
const (
	// HeaderCode carries a failure reply's rabibridge.Code.
	HeaderCode = "x-rabibridge-code"
	// HeaderTrace carries a failure reply's trace (a panic's stack).
	HeaderTrace = "x-rabibridge-trace"
	// HeaderDeadline may carry a call's absolute deadline, in Unix
	// milliseconds, for clients that cannot choose their correlation ids;
	// Go callers put it in the correlation id (see CallID).
	HeaderDeadline = "x-rabibridge-deadline"
	// HeaderGather names the function a call published on the discovery
	// exchange is for (caller.Gather): every Go worker instance serving it
	// runs it and replies; the others ignore it.
	HeaderGather = "x-rabibridge-gather"
	// HeaderInstance carries, on a reply to such a call, the id of the
	// worker instance that answered (its Instance.ID).
	HeaderInstance = "x-rabibridge-instance"
	// HeaderCallKey names a call across its retries (caller.Retry sets
	// it): a run-once function keys its run by it, so a retry of a call
	// that may have run is answered with the first run's result.
	HeaderCallKey = "x-rabibridge-call-key"
	// HeaderDeliveryCount is a quorum queue's count of a message's
	// earlier deliveries (RabbitMQ sets it).
	HeaderDeliveryCount = "x-delivery-count"
	// HeaderDeliveries counts a call's deliveries that ended with its
	// worker gone (a Go worker with dead letters on sets it, on classic
	// queues, which keep no count).
	HeaderDeliveries = "x-rabibridge-deliveries"
	// Headers of a dead letter: why it is there (DeadFailed, DeadMalformed,
	// DeadPoison), the error and its code, the function, and when it died
	// (Unix milliseconds).
	HeaderDeadReason   = "x-rabibridge-dead-reason"
	HeaderDeadError    = "x-rabibridge-dead-error"
	HeaderDeadCode     = "x-rabibridge-dead-code"
	HeaderDeadFunction = "x-rabibridge-dead-function"
	HeaderDeadAt       = "x-rabibridge-dead-at"
)

// Why a call became a dead letter.
const (
	DeadFailed    = "failed"    // a call wanting no reply failed, or its handler panicked
	DeadMalformed = "malformed" // refused with invalid_argument before or by its handler
	DeadPoison    = "poison"    // delivered more times than the limit, its worker gone each time
)

// DeadQueueName returns the dead-letter queue of function name of the
// given kind: "rpc_<kind>_<name>.dead".
func DeadQueueName(kind, name string) string { return QueueName(kind, name) + ".dead" }

// A call's deadline travels in its correlation id, "<id>@<Unix ms>", which
// only the caller that chose the id reads back: workers of other languages
// echo it in the reply, as they echo any id. A header would do too, but a
// headers table costs the caller an encode and the broker and the worker a
// decode each, which the id saves (docs/benchmarks.md).
const deadlineMark = '@'

// CallID is the correlation id that carries cid and deadline, its Unix
// milliseconds in exactly deadlineDigits digits. A deadline those cannot
// hold (after the year 2286, or before 1970 on a clock set wrong) is not
// carried, so that the reply's id still reads back as cid.
func CallID(cid string, deadline time.Time) string {
	ms := deadline.UnixMilli()
	if deadline.IsZero() || ms < 0 || ms > MaxDeadlineMS {
		return cid
	}
	var digits [deadlineDigits]byte
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = byte('0' + ms%10)
		ms /= 10
	}
	var b strings.Builder
	b.Grow(len(cid) + 1 + deadlineDigits)
	b.WriteString(cid)
	b.WriteByte(deadlineMark)
	b.Write(digits[:])
	return b.String()
}

// MaxDeadlineMS is the latest deadline an id carries: 2286-11-20.
const MaxDeadlineMS = 9_999_999_999_999

// deadlineDigits is the length of a deadline in an id: Unix milliseconds
// have 13 digits from 2001 to 2286. Other ids are read whole, so that an id
// of another client's making is not misread unless it ends in "@" and
// exactly 13 digits.
const deadlineDigits = 13

// SplitCallID splits a correlation id made by CallID; any other id is
// returned whole, with no deadline.
func SplitCallID(id string) (cid string, deadline time.Time) {
	i := len(id) - deadlineDigits - 1
	if i < 0 || id[i] != deadlineMark {
		return id, time.Time{}
	}
	var ms int64
	for _, c := range []byte(id[i+1:]) {
		if c < '0' || c > '9' {
			return id, time.Time{}
		}
		ms = ms*10 + int64(c-'0')
	}
	return id[:i], time.UnixMilli(ms)
}
