package transport

import (
	"time"
)

// Message is a call or a reply as it travels.
type Message struct {
	// Body is the encoded envelope, maybe compressed. Publish and Reply take
	// ownership of it: do not modify it afterwards.
	Body []byte
	// CorrelationID pairs a reply with its call.
	CorrelationID string
	// ReplyTo is the address a call's reply goes to; a requester sets its
	// own, unless a call says protocol.NoReply (it wants none).
	ReplyTo string
	// ContentType names the body's codec; empty from Python peers.
	ContentType string
	// Deadline is when the caller stops waiting; zero for none. On RabbitMQ
	// it travels in the correlation id, as "<CorrelationID>@<Unix ms>" (a
	// Go worker also takes it from a protocol.HeaderDeadline header): a Go worker
	// skips a call whose deadline has passed and runs the handler with a
	// context that ends at it.
	Deadline time.Time
	// Expire also sets the AMQP expiration from Deadline, so that the broker
	// drops the call if it is still queued at its deadline (when it reaches
	// the head of the queue). Go workers skip such calls anyway; Python
	// RabiBridge workers, which know nothing of the deadline, need this not
	// to run them. It costs the broker CPU per call (docs/benchmarks.md).
	Expire bool
	// Headers are further string headers (protocol.HeaderCode, protocol.HeaderTrace, trace
	// context); nil when there are none.
	Headers map[string]string
	// TooLarge, in a message received, is its body's size when that was
	// over what the connection's consumers and requesters take
	// (ConsumeOptions.MaxBodySize, BodyLimiter): the body was not read, and
	// Body is nil.
	TooLarge int64
}

// BodyLimiter is a ReplyHandler that says the largest reply body it takes,
// so that a larger one is not read into memory (Message.TooLarge).
type BodyLimiter interface {
	MaxBodySize() int
}

// Delivery is a call taken from a queue. It must be acknowledged (Ack) once
// its reply is published, or returned to the queue (Nack).
type Delivery struct {
	Message
	// Redelivered is true when the call was delivered before and not
	// acknowledged (a worker died or gave it back).
	Redelivered bool

	acker   acker
	tag     uint64
	wireID  string    // the correlation id as it came, when it differs: replies echo it
	expires time.Time // in-process broker: when the call dies in the queue
}

type acker interface {
	ack(tag uint64) error
	nack(tag uint64, requeue bool) error
	reply(d *Delivery, m Message) error
}

// Ack acknowledges the delivery: the broker forgets the call.
func (d *Delivery) Ack() error { return d.acker.ack(d.tag) }

// Reply publishes m to the call's reply address (m.ReplyTo and
// m.CorrelationID are set from the call) and then acknowledges the call:
// never the other way round, so a call is not forgotten before its reply
// is out. If the reply cannot be published the call goes back to the queue.
//
// On RabbitMQ, Reply publishes the reply at once, on the subscription's
// reply channel. A quiet subscription acknowledges the call right after;
// a busy one (calls finishing within 200µs of each other) owes the
// acknowledgement and sends owed ones together, in one multiple-ack frame,
// after a quarter of the prefetch or a millisecond, and before the
// subscription closes.
func (d *Delivery) Reply(m Message) error {
	m.ReplyTo, m.CorrelationID = d.ReplyTo, d.CorrelationID
	if d.wireID != "" {
		m.CorrelationID = d.wireID
	}
	return d.acker.reply(d, m)
}

// Nack gives the delivery back: to the queue when requeue is true, so that
// another consumer takes it, and to nowhere otherwise.
func (d *Delivery) Nack(requeue bool) error { return d.acker.nack(d.tag, requeue) }
