package protocol

import (
	"encoding/json"
	"time"
)

// The discovery types: what a worker instance answers a discovery request
// with, as JSON on the discovery exchange (DiscoveryExchange).

// Function describes a registered function as documents and discovery show
// it: its name, RabiBridge kind, options and the JSON Schemas of its request
// and response. registry.Function is this type.
type Function struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"` // "async" or "sync"
	Description string          `json:"description,omitempty"`
	QueueSize   int             `json:"queue_size,omitempty"`  // x-max-length; 0: unlimited
	FetchSize   int             `json:"fetch_size"`            // the prefetch of each consumer
	TimeoutMS   int64           `json:"timeout_ms,omitempty"`  // x-message-ttl; 0: none
	Validate    bool            `json:"validate"`              // requests are checked against Request
	QueueType   string          `json:"queue_type,omitempty"`  // "quorum", or empty for classic
	OnceTTLMS   int64           `json:"once_ttl_ms,omitempty"` // run-once: how long results are remembered; 0: not run-once
	Request     json.RawMessage `json:"request"`               // the request's JSON Schema
	Response    json.RawMessage `json:"response"`              // the response's JSON Schema
}

// Instance is what one worker instance says of itself in discovery.
type Instance struct {
	ID        string          `json:"id"`      // unique per Serve
	Host      string          `json:"host"`    // the host name
	PID       int             `json:"pid"`     // the process id
	Version   string          `json:"version"` // rabibridge.Version of the worker
	Started   time.Time       `json:"started"` // when Serve started
	Functions []FunctionStats `json:"functions"`
}

// FunctionStats is a function as one instance serves it: its description
// and what it has done so far.
type FunctionStats struct {
	Function
	Stats Stats `json:"stats"`
}

// Stats count a function's calls on one instance since it started.
type Stats struct {
	Calls    int64            `json:"calls"`
	Errors   map[string]int64 `json:"errors,omitempty"` // by rabibridge.Code
	InFlight int64            `json:"in_flight"`
	MeanMS   float64          `json:"mean_ms"`
	P99MS    float64          `json:"p99_ms"`
}
