package rabibridge_test

import (
	"errors"
	"fmt"

	"github.com/rabibridge/rabibridge"
)

func ExampleErrorf() {
	// A handler returns a coded error; its callers branch on the code.
	err := fmt.Errorf("caller: get_user: %w", rabibridge.Errorf(rabibridge.CodeNotFound, "no user %d", 42))
	var re *rabibridge.RemoteError
	if errors.As(err, &re) {
		fmt.Println(re.Code, re.Message)
	}
	fmt.Println(rabibridge.CodeOf(err), rabibridge.Retryable(err))
	// Output:
	// not_found no user 42
	// not_found false
}

func ExampleRetryable() {
	err := fmt.Errorf("caller: add: %w", rabibridge.ErrQueueFull)
	fmt.Println(rabibridge.Retryable(err), rabibridge.CodeOf(err))
	// Output: true resource_exhausted
}

func ExampleCode() {
	// Every code, as it travels on the wire, and whether a caller may
	// retry a call that failed with it.
	for _, c := range []rabibridge.Code{
		rabibridge.CodeOK, rabibridge.CodeCanceled, rabibridge.CodeUnknown, rabibridge.CodeInvalidArgument,
		rabibridge.CodeDeadlineExceeded, rabibridge.CodeNotFound, rabibridge.CodeAlreadyExists,
		rabibridge.CodePermissionDenied, rabibridge.CodeResourceExhausted, rabibridge.CodeFailedPrecondition,
		rabibridge.CodeUnimplemented, rabibridge.CodeInternal, rabibridge.CodeUnavailable, rabibridge.CodeUnauthenticated,
	} {
		fmt.Println(c, c.Valid() && rabibridge.ParseCode(c.String()) == c, rabibridge.Retryable(rabibridge.Errorf(c, "x")))
	}
	// A newer peer's code reads as unknown, not as an error.
	fmt.Println(rabibridge.ParseCode("teapot"), rabibridge.Version != "")
	// Output:
	// ok true false
	// canceled true false
	// unknown true false
	// invalid_argument true false
	// deadline_exceeded true false
	// not_found true false
	// already_exists true false
	// permission_denied true false
	// resource_exhausted true true
	// failed_precondition true false
	// unimplemented true false
	// internal true false
	// unavailable true true
	// unauthenticated true false
	// unknown true
}
