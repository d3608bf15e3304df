package rabibridge

// Code classifies a failure. The set is closed and its meanings follow gRPC's
// status codes of the same names. Codes travel between Go peers in a message
// header; a failure from a peer that sends no code (Python RabiBridge) reads
// as CodeInternal.
type Code string

// The codes a RemoteError can carry.
const (
	// CodeOK is not an error; it is the code of a successful call.
	CodeOK Code = "ok"
	// CodeCanceled: the call was cancelled, typically by the caller.
	CodeCanceled Code = "canceled"
	// CodeUnknown: an error whose kind is not known.
	CodeUnknown Code = "unknown"
	// CodeInvalidArgument: the request is malformed or fails validation.
	// Retrying the same request will not help.
	CodeInvalidArgument Code = "invalid_argument"
	// CodeDeadlineExceeded: the call's deadline passed before it completed.
	CodeDeadlineExceeded Code = "deadline_exceeded"
	// CodeNotFound: something the request names does not exist.
	CodeNotFound Code = "not_found"
	// CodeAlreadyExists: something the request would create already exists.
	CodeAlreadyExists Code = "already_exists"
	// CodePermissionDenied: the caller may not do this.
	CodePermissionDenied Code = "permission_denied"
	// CodeResourceExhausted: a limit was reached (a full queue, a rate limit).
	// Retry later.
	CodeResourceExhausted Code = "resource_exhausted"
	// CodeFailedPrecondition: the system is not in a state to do this.
	CodeFailedPrecondition Code = "failed_precondition"
	// CodeUnimplemented: the operation is not implemented or not supported.
	CodeUnimplemented Code = "unimplemented"
	// CodeInternal: an invariant broke, or the handler failed (a returned
	// error without a code, a panic).
	CodeInternal Code = "internal"
	// CodeUnavailable: the service cannot be reached now. Retry with backoff.
	CodeUnavailable Code = "unavailable"
	// CodeUnauthenticated: the caller's credentials are missing or invalid.
	CodeUnauthenticated Code = "unauthenticated"
)

var knownCodes = map[Code]bool{
	CodeOK: true, CodeCanceled: true, CodeUnknown: true, CodeInvalidArgument: true,
	CodeDeadlineExceeded: true, CodeNotFound: true, CodeAlreadyExists: true,
	CodePermissionDenied: true, CodeResourceExhausted: true, CodeFailedPrecondition: true,
	CodeUnimplemented: true, CodeInternal: true, CodeUnavailable: true, CodeUnauthenticated: true,
}

// Valid reports whether c is one of the codes defined in this package.
func (c Code) Valid() bool { return knownCodes[c] }

// String returns the code's wire name.
func (c Code) String() string { return string(c) }

// ParseCode returns the code named s, and CodeUnknown for an empty or unknown
// name (a newer peer's code is not an error).
func ParseCode(s string) Code {
	if c := Code(s); c.Valid() {
		return c
	}
	return CodeUnknown
}
