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
