package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/registry"
)

// Instance describes this worker as discovery shows it: its id, host, pid,
// version, start time, and its functions with their stats so far.
func (w *Worker) Instance() registry.Instance {
	host, _ := os.Hostname()
	in := registry.Instance{ID: w.id, Host: host, PID: os.Getpid(), Version: rabibridge.Version, Started: w.startedAt}
	w.mu.Lock()
	fns := w.functions
	w.mu.Unlock()
	for _, f := range fns {
		in.Functions = append(in.Functions, registry.FunctionStats{Function: registry.Function(f.entry.Function), Stats: f.stats.snapshot()})
	}
	return in
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// answer replies to a discovery request with the worker's Instance, as
// JSON, and runs a gathered call (caller.Gather) of a function it serves.
func (w *Worker) answer(base context.Context, m transport.Message) {
	if m.ReplyTo == "" {
		return
	}
	if name, ok := m.Headers[protocol.HeaderGather]; ok {
		if f := w.served(name); f != nil {
			w.gathers.Go(func() { w.gathered(base, f, m) })
		}
		return
	}
	body, err := json.Marshal(w.Instance())
	if err != nil {
		w.log.Warn("encoding the discovery answer", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(base, 5*time.Second)
	defer cancel()
	reply := transport.Message{Body: body, CorrelationID: m.CorrelationID, ReplyTo: m.ReplyTo, ContentType: "application/json"}
	if err := w.conn.Reply(ctx, reply); err != nil {
		w.log.Debug("answering discovery", "error", err)
	}
}

// served returns the function name as the worker serves it, or nil.
func (w *Worker) served(name string) *function {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.functions {
		if f.name == name {
			return f
		}
	}
	return nil
}

// gathered runs a call sent to every instance (caller.Gather) and replies
// with the instance's id; it runs beside the discovery listener, which a
// slow handler must not hold up.
func (w *Worker) gathered(base context.Context, f *function, m transport.Message) {
	d := &transport.Delivery{Message: m}
	c, out, took, err := w.call(base, f, d)
	reply := w.reply(base, f, d, c, out, err, took)
	if reply.Headers == nil {
		reply.Headers = map[string]string{}
	}
	reply.Headers[protocol.HeaderInstance] = w.id
	reply.CorrelationID, reply.ReplyTo = m.CorrelationID, m.ReplyTo
	ctx, cancel := context.WithTimeout(base, 5*time.Second)
	defer cancel()
	if err := w.conn.Reply(ctx, reply); err != nil {
		w.log.Debug("answering a gathered call", "function", f.name, "error", err)
	}
}
