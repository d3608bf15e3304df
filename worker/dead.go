package worker

import (
	"context"
	"maps"
	"strconv"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
)

// Dead letters (registry.Options.DeadLetters): the calls of a function that
// nobody would otherwise see fail are kept in its dead-letter queue.

// deadWait bounds keeping a dead letter, and publishing a counted call
// again: the broker answers in milliseconds, or is in trouble.
const deadWait = 10 * time.Second

// bury keeps call d of f as a dead letter, with why and err. The letter is
// the call as it came (its body, content type, headers and correlation id)
// with no reply address and no deadline: replayed, it runs as a Send.
func (w *Worker) bury(ctx context.Context, f *function, d *transport.Delivery, why string, err error) error {
	re := remote(err)
	m := transport.Message{Body: d.Body, CorrelationID: d.CorrelationID, ContentType: d.ContentType,
		Headers: make(map[string]string, len(d.Headers)+5)}
	maps.Copy(m.Headers, d.Headers)
	delete(m.Headers, protocol.HeaderDeliveries)
	delete(m.Headers, protocol.HeaderDeliveryCount)
	m.Headers[protocol.HeaderDeadReason] = why
	m.Headers[protocol.HeaderDeadError] = trim(re.Message, 4096)
	m.Headers[protocol.HeaderDeadCode] = string(re.Code)
	m.Headers[protocol.HeaderDeadFunction] = f.name
	m.Headers[protocol.HeaderDeadAt] = strconv.FormatInt(time.Now().UnixMilli(), 10)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadWait)
	defer cancel()
	if err := w.conn.Put(ctx, f.deadQueue, m, true); err != nil {
		w.log.Error("cannot keep a dead letter", "function", f.name, "correlation_id", d.CorrelationID, "reason", why, "error", err)
		return err
	}
	w.log.Warn("call kept as a dead letter", "function", f.name, "correlation_id", d.CorrelationID,
		"reason", why, "code", string(re.Code), "error", re.Message, "queue", f.deadQueue)
	return nil
}

// poison counts a call delivered again after its worker went away, and
// reports whether it took care of it: kept as a dead letter once it has been
// delivered f.maxDeliveries times, or (on a classic queue, which counts
// nothing) published again to the back of its queue with its count, and
// acknowledged here. A quorum queue counts by itself (x-delivery-count).
func (w *Worker) poison(ctx context.Context, f *function, d *transport.Delivery) bool {
	if d.TooLarge > 0 {
		return false // its body was not read: it is answered as too large
	}
	if c, ok := d.Headers[protocol.HeaderDeliveryCount]; ok {
		n, _ := strconv.Atoi(c) // earlier deliveries
		if n < f.maxDeliveries {
			return false
		}
		w.buryPoison(ctx, f, d, n+1)
		return true
	}
	if !d.Redelivered {
		return false
	}
	n, _ := strconv.Atoi(d.Headers[protocol.HeaderDeliveries]) // earlier deliveries, counted
	n++                                                        // and the one that brought it back
	if n >= f.maxDeliveries {
		w.buryPoison(ctx, f, d, n+1)
		return true
	}
	again := d.Message
	again.Headers = make(map[string]string, len(d.Headers)+1)
	maps.Copy(again.Headers, d.Headers)
	again.Headers[protocol.HeaderDeliveries] = strconv.Itoa(n)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadWait)
	defer cancel()
	if err := w.conn.Put(pctx, f.queue, again, false); err != nil {
		// Not counted: run it now rather than lose it.
		w.log.Warn("cannot count a redelivered call; running it", "function", f.name, "correlation_id", d.CorrelationID, "error", err)
		return false
	}
	if err := d.Ack(); err != nil {
		w.log.Error("acknowledging a call published again with its count", "function", f.name, "correlation_id", d.CorrelationID, "error", err)
	}
	return true
}

// buryPoison keeps a call delivered too often, and acknowledges it; if it
// cannot be kept it runs no more here, and goes back to its queue.
func (w *Worker) buryPoison(ctx context.Context, f *function, d *transport.Delivery, deliveries int) {
	err := rabibridge.Errorf(rabibridge.CodeInternal,
		"%s: delivered %d times, its worker gone before it finished each time (registry.Options.MaxDeliveries is %d)", f.name, deliveries, f.maxDeliveries)
	if w.bury(ctx, f, d, protocol.DeadPoison, err) != nil {
		d.Nack(true)
		return
	}
	if err := d.Ack(); err != nil {
		w.log.Error("acknowledging a dead letter", "function", f.name, "correlation_id", d.CorrelationID, "error", err)
	}
}
