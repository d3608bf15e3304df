// Package docgen writes the reference of a fleet's functions, from their
// descriptions (registry.Function, as registry.Functions and
// caller.Discover give them): Markdown for people, and an AsyncAPI 3.0
// document (YAML or JSON) for tools. It lives apart from schema so that
// workers and callers do not link what only documents need.
//
//	fns := registry.Default.Functions()
//	err := docgen.Markdown(os.Stdout, "Our functions", fns)
//
// The CLI's `rabibridge docs` writes both, for a registry or a live fleet.
package docgen

import (
	"time"

	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/registry"
)

// queueOf returns the function's queue, rpc_<kind>_<name>.
func queueOf(f registry.Function) string { return protocol.QueueName(f.Kind, f.Name) }

// routingKeyOf returns the function's routing key, <kind>_<name>.
func routingKeyOf(f registry.Function) string { return protocol.RoutingKey(f.Kind, f.Name) }

// queueArgsOf returns the arguments of the function's queue, as RabiBridge
// declares them.
func queueArgsOf(f registry.Function) map[string]any {
	return protocol.QueueArgs(f.QueueSize, time.Duration(f.TimeoutMS)*time.Millisecond, quorum(f))
}

// quorum reports whether the function's queue is a quorum queue.
func quorum(f registry.Function) bool { return f.QueueType == "quorum" }
