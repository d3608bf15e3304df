package caller

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/registry"
)

// Answer is one worker instance's answer to a Gather.
type Answer[Resp any] struct {
	// Instance is the id of the worker instance (registry.Instance.ID).
	Instance string
	// Value is its result, when Err is nil.
	Value Resp
	// Err is the instance's error, as Call would return it; for an instance
	// that did not answer before ctx ended, it wraps ctx's error
	// (context.DeadlineExceeded at a deadline).
	Err error
}

// Gather calls function name with req on every live worker instance that
// serves it, and returns their answers, one per instance, sorted by
// instance: for cache invalidation across a fleet, finding the instance
// that holds a job, collecting figures. It finds the instances by
// discovery (for one second, or a third of the time ctx has left
// if that is shorter), sends the call to all of them at once, and returns
// when each has answered or ctx ends; an instance that did not answer by
// then is in the result with an Err wrapping ctx's error. Gather's own
// error is for a call that could not be made: no instance serves name
// (rabibridge.ErrNoSuchFunction), the request does not encode, the caller
// is closed. Only Go workers take part: Python RabiBridge workers answer
// no discovery. Interceptors do not see a Gather.
func Gather[Req, Resp any](ctx context.Context, c *Caller, name string, req Req) ([]Answer[Resp], error) {
	if c.cfg.Timeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
		}
	}
	body, err := encode(c, req)
	if err != nil {
		return nil, fmt.Errorf("caller: %s: encoding the request: %w", name, err)
	}
	want, err := c.serving(ctx, name)
	if err != nil {
		return nil, err
	}
	cid := "gather-" + strconv.FormatUint(c.cid.Add(1)%uint64(c.cfg.CIDMax), 10)
	answers := c.collecting(cid)
	defer c.stopCollecting(cid)
	deadline, _ := ctx.Deadline()
	err = c.req.Broadcast(ctx, protocol.DiscoveryExchange, transport.Message{
		Body: wire.Compress(body, c.body.CompressThreshold), CorrelationID: cid, ContentType: c.ctype,
		Deadline: deadline, Headers: map[string]string{protocol.HeaderGather: name},
	})
	if err != nil {
		return nil, fmt.Errorf("caller: %s: gather: %w", name, err)
	}
	got := map[string]Answer[Resp]{}
	for !answeredAll(got, want) {
		select {
		case m := <-answers:
			id := m.Headers[protocol.HeaderInstance]
			if _, dup := got[id]; dup || id == "" {
				continue
			}
			a := Answer[Resp]{Instance: id}
			a.Err = c.decode(name, &m, &a.Value)
			got[id] = a
		case <-ctx.Done():
			for _, id := range want {
				if _, ok := got[id]; !ok {
					got[id] = Answer[Resp]{Instance: id, Err: fmt.Errorf("caller: %s: instance %s did not answer: %w", name, id, ctx.Err())}
				}
			}
		}
	}
	out := make([]Answer[Resp], 0, len(got))
	for _, a := range got {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Instance < out[j].Instance })
	return out, nil
}

func answeredAll[Resp any](got map[string]Answer[Resp], want []string) bool {
	for _, id := range want {
		if _, ok := got[id]; !ok {
			return false
		}
	}
	return true
}

// serving returns the ids of the live instances that serve name.
func (c *Caller) serving(ctx context.Context, name string) ([]string, error) {
	wait := DefaultDiscoverWait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d)/3)
	}
	dctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ins, err := c.Discover(dctx)
	if err != nil {
		return nil, fmt.Errorf("caller: %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("caller: %s: %w", name, err)
	}
	var ids []string
	for _, in := range ins {
		if slices.ContainsFunc(in.Functions, func(f registry.FunctionStats) bool { return f.Name == name }) {
			ids = append(ids, in.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("caller: %s: %w: no live Go worker instance serves it", name, rabibridge.ErrNoSuchFunction)
	}
	return ids, nil
}

// collecting registers a collector of the replies with correlation id cid.
func (c *Caller) collecting(cid string) chan transport.Message {
	answers := make(chan transport.Message, 256)
	c.mu.Lock()
	c.collect[cid] = answers
	c.mu.Unlock()
	return answers
}

func (c *Caller) stopCollecting(cid string) {
	c.mu.Lock()
	delete(c.collect, cid)
	c.mu.Unlock()
}
