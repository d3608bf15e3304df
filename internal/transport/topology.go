package transport

import (
	"errors"
	"fmt"
	"time"

	"github.com/rabibridge/rabibridge/internal/protocol"
)

// Queue describes a function's queue. Its arguments are RabiBridge's, so Go
// and Python workers can share it.
type Queue struct {
	// Name is the queue's name, protocol.QueueName(kind, function).
	Name string
	// RoutingKey binds it to protocol.Exchange, protocol.RoutingKey(kind, function).
	RoutingKey string
	// MaxLength is x-max-length; zero for none.
	MaxLength int
	// MessageTTL is x-message-ttl, in whole milliseconds; zero for none.
	MessageTTL time.Duration
	// Redeclare deletes an existing queue of that name first.
	Redeclare bool
	// Quorum declares a quorum queue (x-queue-type: quorum, durable, not
	// auto-delete) instead of RabiBridge's classic one.
	Quorum bool
}

// AutoDelete reports whether the queue goes when its last consumer does:
// classic queues, as RabiBridge declares them.
func (q Queue) AutoDelete() bool { return protocol.AutoDelete(q.Quorum) }

// Args returns the queue arguments RabiBridge declares: always x-overflow
// reject-publish, x-max-length and x-message-ttl only when set.
func (q Queue) Args() map[string]any { return protocol.QueueArgs(q.MaxLength, q.MessageTTL, q.Quorum) }

// ErrQueueMismatch is wrapped by the error of a declaration that conflicts
// with an existing queue's arguments.
var ErrQueueMismatch = errors.New("queue exists with other arguments")

// MismatchError says that a queue exists with other arguments than declared.
type MismatchError struct {
	Queue      string
	Have, Want map[string]any // Have is nil when the broker did not say
	Cause      error          // the broker's error, if any
}

// Error names the queue, both argument sets (when known) and the fix.
func (e *MismatchError) Error() string {
	have := "other arguments"
	if e.Have != nil {
		have = fmt.Sprint(e.Have)
	} else if e.Cause != nil {
		have = "other arguments (" + e.Cause.Error() + ")" // the broker's words name the argument
	}
	return fmt.Sprintf("bridge: queue %s exists with %s, want %v: set ReRegister to redeclare it (calls waiting in it are lost), or delete the queue", e.Queue, have, e.Want)
}

// Unwrap returns ErrQueueMismatch and the broker's error.
func (e *MismatchError) Unwrap() []error { return []error{ErrQueueMismatch, e.Cause} }
