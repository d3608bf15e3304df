package transport

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge/internal/pause"
)

// channel is an attachment's channel and what it delivers.
type channel struct {
	conn   *amqp.Connection // ch's
	ch     *amqp.Channel
	in     <-chan amqp.Delivery
	direct chan amqp.Delivery // deliveries taken off the frames (see direct.go); nil: none
	tag    string             // the consumer's tag, for direct
	closes chan *amqp.Error   // the requester's: why the channel closed
}

// attachment is what consumers, requesters and listeners share: a channel
// of their own kept attached to the transport's connection through its
// losses.
type attachment struct {
	t *amqpTransport
	// attach opens the channel on c and sets it up.
	attach func(c *amqp.Connection) (channel, error)
	// serve uses the channel until it ends, and says whether to attach
	// again.
	serve func(channel) bool
	// failed is told of an attempt that failed, and says whether to try
	// again, after a backoff.
	failed func(err error) bool
	// abandon undoes an attachment made as the loop's ctx ended; nil
	// leaves it.
	abandon func(channel)
}

// keep attaches and serves until ctx ends, or until serve or failed says
// to stop. Each attempt waits for the connection: the first within
// startCtx, later ones within ctx. The first attempt's error goes to first,
// and ends keep when it is not nil.
func (a attachment) keep(ctx, startCtx context.Context, first chan<- error) {
	b := newBackoff(a.t.cfg.ReconnectMin, a.t.cfg.ReconnectMax)
	for {
		waitCtx := ctx
		if first != nil {
			waitCtx = startCtx
		}
		var at channel
		c, err := a.t.current(waitCtx)
		if err == nil {
			at, err = a.attach(c)
			at.conn = c
		}
		if first != nil {
			first <- err
			first = nil
			if err != nil {
				return
			}
		}
		if ctx.Err() != nil {
			if err == nil && a.abandon != nil {
				a.abandon(at)
			}
			return
		}
		if err != nil {
			if !a.failed(err) {
				return
			}
			pause.For(ctx, b.Wait())
			continue
		}
		b.Reset()
		if !a.serve(at) {
			return
		}
	}
}
