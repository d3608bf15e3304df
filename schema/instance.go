package schema

import (
	"time"

	"github.com/rabibridge/rabibridge/internal/protocol"
)

// DiscoveryExchange is the fanout exchange of discovery: every worker
// instance binds a queue of its own to it and answers each request with its
// Instance, as JSON.
const DiscoveryExchange = protocol.DiscoveryExchange

// Instance is what one worker instance says of itself in discovery.
type Instance struct {
	ID        string          `json:"id"`
	Host      string          `json:"host"`
	PID       int             `json:"pid"`
	Version   string          `json:"version"`
	Started   time.Time       `json:"started"`
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
