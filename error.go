package rabibridge

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors for conditions the caller side detects. Test for them with
// errors.Is; the errors returned wrap them with the function's name.
var (
	// ErrQueueFull: the function's queue is at its length limit and the
	// broker refused the call. Nothing ran; retry later.
	ErrQueueFull = errors.New("rabibridge: queue full")
	// ErrNoSuchFunction: no queue is bound for the function, so no worker
	// serves it. Nothing ran.
	ErrNoSuchFunction = errors.New("rabibridge: no such function")
	// ErrConnectionLost: the connection to the broker was lost while the call
	// was in flight. The call may or may not have run; retry if it is
	// idempotent.
	ErrConnectionLost = errors.New("rabibridge: connection lost")
	// ErrClosed: the caller, worker or connection was closed.
	ErrClosed = errors.New("rabibridge: closed")
	// ErrTooLarge: the call's body is over the broker's message size
	// limit (bridge.Config.MaxMessageSize), so it was not sent. Nothing ran;
	// retrying will not help.
	ErrTooLarge = errors.New("rabibridge: message too large")
)

// RemoteError is a failure raised by the remote side of a call: the handler
// returned an error, panicked, or the worker refused the request (for example
// when validation failed). Test for it with errors.As.
//
// Handlers return a RemoteError (see [Errorf]) to choose the code their
// callers see; any other error reaches the caller as CodeInternal with the
// error's text as Message.
type RemoteError struct {
	// Code classifies the failure.
	Code Code
	// Message describes the failure; for a Python peer it is the text the
	// peer sent (its traceback).
	Message string
	// Trace is optional detail, such as a stack trace of a panic.
	Trace string
}

// Errorf returns a *RemoteError with code c and a formatted message. A handler
// returns it to tell its callers what kind of failure happened.
func Errorf(c Code, format string, args ...any) *RemoteError {
	return &RemoteError{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Error returns "remote <code>: <message>".
func (e *RemoteError) Error() string {
	return "remote " + string(e.Code) + ": " + e.Message
}

// Is makes errors.Is(err, context.DeadlineExceeded) and errors.Is(err,
// context.Canceled) true for remote errors with the matching code, so a
// deadline that passed on the worker reads like one that passed locally.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Code == CodeDeadlineExceeded
	case context.Canceled:
		return e.Code == CodeCanceled
	}
	return false
}

// CodeOf returns the code that describes err: CodeOK for nil, the code of a
// *RemoteError in its chain, CodeDeadlineExceeded and CodeCanceled for
// context errors, CodeResourceExhausted for ErrQueueFull, CodeNotFound for
// ErrNoSuchFunction, CodeUnavailable for ErrConnectionLost and ErrClosed, and
// CodeInternal otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		return re.Code
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, ErrQueueFull):
		return CodeResourceExhausted
	case errors.Is(err, ErrNoSuchFunction):
		return CodeNotFound
	case errors.Is(err, ErrConnectionLost), errors.Is(err, ErrClosed):
		return CodeUnavailable
	}
	return CodeInternal
}

// Retryable reports whether a call that failed with err may succeed if made
// again unchanged: a full queue, a lost connection (including a missing
// function reported while the caller was recovering from one), or a remote
// failure with CodeUnavailable or CodeResourceExhausted. A closed caller is
// not retryable.
func Retryable(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrClosed):
		return false
	case errors.Is(err, ErrConnectionLost), errors.Is(err, ErrQueueFull):
		return true
	}
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code == CodeUnavailable || re.Code == CodeResourceExhausted
	}
	return false
}
