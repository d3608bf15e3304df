package protocol

import "encoding/json"

// Function describes a registered function as documents and discovery show
// it: its name, RabiBridge kind, options and the JSON Schemas of its request
// and response. It is the registry's entries' own; registry.Function, the
// public type, has the same fields and converts to and from it.
type Function struct {
	Name          string          `json:"name"`
	Kind          string          `json:"kind"` // "async" or "sync"
	Description   string          `json:"description,omitempty"`
	QueueSize     int             `json:"queue_size,omitempty"`     // x-max-length; 0: unlimited
	FetchSize     int             `json:"fetch_size"`               // the prefetch of each consumer
	TimeoutMS     int64           `json:"timeout_ms,omitempty"`     // x-message-ttl; 0: none
	Validate      bool            `json:"validate"`                 // requests are checked against Request
	QueueType     string          `json:"queue_type,omitempty"`     // "quorum", or empty for classic
	OnceTTLMS     int64           `json:"once_ttl_ms,omitempty"`    // run-once: how long results are remembered; 0: not run-once
	MaxDeliveries int             `json:"max_deliveries,omitempty"` // dead letters kept, after this many deliveries; 0: none kept
	Request       json.RawMessage `json:"request"`                  // the request's JSON Schema
	Response      json.RawMessage `json:"response"`                 // the response's JSON Schema
}
