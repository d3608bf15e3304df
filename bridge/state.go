package bridge

import "github.com/rabibridge/rabibridge/internal/transport"

// State is a connection's state, as Config.OnStateChange reports it.
type State string

// The states of a connection.
const (
	// StateConnected: the connection is up (first, or again after a loss).
	StateConnected State = transport.StateConnected
	// StateDisconnected: the connection was lost; the transport is
	// reconnecting. Calls in flight failed with ErrConnectionLost; new calls
	// wait for the connection within their ctx.
	StateDisconnected State = transport.StateDisconnected
	// StateReconnecting: an attempt to reconnect failed; another follows
	// after a backoff.
	StateReconnecting State = transport.StateReconnecting
	// StateClosed: Close was called.
	StateClosed State = transport.StateClosed
)
