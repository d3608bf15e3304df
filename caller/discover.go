package caller

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/registry"
)

// DefaultDiscoverWait is how long Discover and Gather collect answers
// when their ctx has no deadline.
const DefaultDiscoverWait = time.Second

// Discover asks every live worker instance to describe itself (its
// functions with their schemas, options and stats: a registry.Instance,
// which is the type returned) and returns the answers
// that arrive before ctx ends, sorted by instance id; with no deadline on
// ctx it waits one second. Workers that do not answer discovery
// (Python RabiBridge's) are not listed.
func (c *Caller) Discover(ctx context.Context) ([]registry.Instance, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultDiscoverWait)
		defer cancel()
	}
	cid := "discover-" + strconv.FormatUint(c.cid.Add(1), 10)
	answers := c.collecting(cid)
	defer c.stopCollecting(cid)
	err := c.req.Broadcast(ctx, protocol.DiscoveryExchange, transport.Message{
		Body: []byte("{}"), CorrelationID: cid, ContentType: "application/json",
	})
	if err != nil {
		return nil, fmt.Errorf("caller: discover: %w", err)
	}
	byID := map[string]registry.Instance{}
	for {
		select {
		case m := <-answers:
			var in registry.Instance
			if err := json.Unmarshal(m.Body, &in); err != nil {
				c.log.Debug("ignoring a discovery answer", "error", err)
				continue
			}
			byID[in.ID] = in
		case <-ctx.Done():
			out := make([]registry.Instance, 0, len(byID))
			for _, in := range byID {
				out = append(out, in)
			}
			sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
			return out, nil
		}
	}
}
