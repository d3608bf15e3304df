package schema

import (
	"encoding/json"
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
func (f Function) Queue() string { return "rpc_" + f.kind() + "_" + f.Name }

// RoutingKey returns the function's routing key, <kind>_<name>.
func (f Function) RoutingKey() string { return f.kind() + "_" + f.Name }

func (f Function) kind() string {
	if f.Kind == "" {
		return "async"
	}
	return f.Kind
}

// QueueArgs returns the arguments of the function's queue, as RabiBridge
// declares them.
func (f Function) QueueArgs() map[string]any {
	args := map[string]any{"x-overflow": "reject-publish"}
	if f.QueueSize > 0 {
		args["x-max-length"] = f.QueueSize
	}
	if f.TimeoutMS > 0 {
		args["x-message-ttl"] = f.TimeoutMS
	}
	if f.QueueType == "quorum" {
		args["x-queue-type"] = "quorum"
	}
	return args
}
