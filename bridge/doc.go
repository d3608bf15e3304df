// Package bridge connects to a broker: Dial and its Config, the Conn that
// workers and callers share, and the connection's states.
//
// Dial picks the transport from the URL's scheme:
//
//   - mem:// and mem://NAME: an in-process broker with the same observable
//     semantics as the RabbitMQ topology (queue length limit, no route,
//     message TTL, prefetch, requeue of unacknowledged messages). It exists
//     for demos and for users' unit tests, not as a broker to deploy: it
//     keeps nothing on disk and reaches no other process. Connections
//     dialled with the same NAME share one broker.
//   - amqp:// and amqps://: RabbitMQ, with RabiBridge's topology (the
//     direct exchange "rpc", one queue per function; docs/protocol.md),
//     publisher confirms, and reconnection after a loss.
//
// Most programs only Dial and hand the *Conn to worker.New and caller.New:
//
//	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://"})
//	if err != nil { ... }
//	defer conn.Close()
package bridge
