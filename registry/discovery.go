package registry

import (
	"encoding/json"
	"time"
)

// Function describes a registered function, as documents and discovery
// show it: its name, kind, options, and the JSON Schemas of its request and
// response. Its JSON is the discovery protocol's (docs/protocol.md).
type Function struct {
	// Name is the function's name.
	Name string `json:"name"`
	// Kind is RabiBridge's kind: "async" or "sync".
	Kind string `json:"kind"`
	// Description is Options.Description.
	Description string `json:"description,omitempty"`
	// QueueSize is the queue's x-max-length; 0: unlimited.
	QueueSize int `json:"queue_size,omitempty"`
	// FetchSize is the prefetch of each consumer.
	FetchSize int `json:"fetch_size"`
	// TimeoutMS is MaxQueueWait in milliseconds (x-message-ttl); 0: none.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// Validate says whether requests are checked against Request.
	Validate bool `json:"validate"`
	// QueueType is "quorum", or empty for a classic queue.
	QueueType string `json:"queue_type,omitempty"`
	// OnceTTLMS is how long a run-once function's results are remembered,
	// in milliseconds; 0: the function is not run-once.
	OnceTTLMS int64 `json:"once_ttl_ms,omitempty"`
	// MaxDeliveries is Options.MaxDeliveries when the function keeps dead
	// letters (Options.DeadLetters); 0: it keeps none.
	MaxDeliveries int `json:"max_deliveries,omitempty"`
	// Request is the request's JSON Schema.
	Request json.RawMessage `json:"request"`
	// Response is the response's JSON Schema.
	Response json.RawMessage `json:"response"`
}

// Instance is what a worker instance says of itself in discovery
// (caller.Discover, `rabibridge list`): its id, host, process, version,
// start time, and the functions it serves.
type Instance struct {
	// ID is unique per Serve (or Start).
	ID string `json:"id"`
	// Host is the host name.
	Host string `json:"host"`
	// PID is the process id.
	PID int `json:"pid"`
	// Version is rabibridge.Version of the worker.
	Version string `json:"version"`
	// Started is when the worker started serving.
	Started time.Time `json:"started"`
	// Functions are the functions it serves, with their statistics.
	Functions []FunctionStats `json:"functions"`
}

// FunctionStats is a function as one instance serves it: its description
// and its Stats.
type FunctionStats struct {
	Function
	// Stats count its calls so far.
	Stats Stats `json:"stats"`
}

// Stats count a function's calls on one instance since it started.
type Stats struct {
	// Calls is how many calls ended, in success or not.
	Calls int64 `json:"calls"`
	// Errors counts the failed calls by rabibridge.Code.
	Errors map[string]int64 `json:"errors,omitempty"`
	// InFlight is how many calls are running now.
	InFlight int64 `json:"in_flight"`
	// MeanMS is the mean duration of a call, in milliseconds.
	MeanMS float64 `json:"mean_ms"`
	// P99MS is the 99th percentile of a call's duration, in milliseconds.
	P99MS float64 `json:"p99_ms"`
}
