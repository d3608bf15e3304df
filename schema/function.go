package schema

import (
	"encoding/json"
	"time"

	"github.com/rabibridge/rabibridge/internal/protocol"
)

// Function describes a registered function as documents and discovery show
// it: its name, RabiBridge kind, options and the JSON Schemas of its request
// and response. registry.Info is this type.
type Function struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"`
	Description string          `json:"description,omitempty"`
	QueueSize   int             `json:"queue_size,omitempty"`
	FetchSize   int             `json:"fetch_size"`
	TimeoutMS   int64           `json:"timeout_ms,omitempty"`
	Validate    bool            `json:"validate"`
	QueueType   string          `json:"queue_type,omitempty"`
	Request     json.RawMessage `json:"request"`
	Response    json.RawMessage `json:"response"`
}

// Queue returns the function's queue name, rpc_<kind>_<name>.
func (f Function) Queue() string { return protocol.QueueName(f.Kind, f.Name) }

// RoutingKey returns the function's routing key, <kind>_<name>.
func (f Function) RoutingKey() string { return protocol.RoutingKey(f.Kind, f.Name) }

// QueueArgs returns the arguments of the function's queue, as RabiBridge
// declares them.
func (f Function) QueueArgs() map[string]any {
	return protocol.QueueArgs(f.QueueSize, time.Duration(f.TimeoutMS)*time.Millisecond, f.Quorum())
}

// Quorum reports whether the function's queue is a quorum queue.
func (f Function) Quorum() bool { return f.QueueType == "quorum" }
