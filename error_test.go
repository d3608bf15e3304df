package rabibridge_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge"
)

func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err       error
		code      rabibridge.Code
		retryable bool
	}{
		{nil, rabibridge.CodeOK, false},
		{fmt.Errorf("caller: add: %w", rabibridge.ErrQueueFull), rabibridge.CodeResourceExhausted, true},
		{fmt.Errorf("caller: add: %w", rabibridge.ErrNoSuchFunction), rabibridge.CodeNotFound, false},
		{fmt.Errorf("caller: add: %w", rabibridge.ErrConnectionLost), rabibridge.CodeUnavailable, true},
		{fmt.Errorf("caller: add: %w", rabibridge.ErrClosed), rabibridge.CodeUnavailable, false},
		{fmt.Errorf("caller: add: %w", context.DeadlineExceeded), rabibridge.CodeDeadlineExceeded, false},
		{context.Canceled, rabibridge.CodeCanceled, false},
		{rabibridge.Errorf(rabibridge.CodeUnavailable, "later"), rabibridge.CodeUnavailable, true},
		{fmt.Errorf("wrapped: %w", rabibridge.Errorf(rabibridge.CodeNotFound, "no user")), rabibridge.CodeNotFound, false},
		{errors.New("plain"), rabibridge.CodeInternal, false},
	} {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			is := is.New(t)
			is.Equal(rabibridge.CodeOf(tc.err), tc.code)
			is.Equal(rabibridge.Retryable(tc.err), tc.retryable)
		})
	}
}

func TestRemoteErrorIsContextError(t *testing.T) {
	is := is.New(t)
	err := fmt.Errorf("caller: sleep: %w", &rabibridge.RemoteError{Code: rabibridge.CodeDeadlineExceeded, Message: "context deadline exceeded"})
	is.True(errors.Is(err, context.DeadlineExceeded))
	is.True(!errors.Is(err, context.Canceled))
	is.Equal(err.Error(), "caller: sleep: remote deadline_exceeded: context deadline exceeded")
}

func TestParseCode(t *testing.T) {
	is := is.New(t)
	is.Equal(rabibridge.ParseCode("invalid_argument"), rabibridge.CodeInvalidArgument)
	is.Equal(rabibridge.ParseCode("from_the_future"), rabibridge.CodeUnknown)
	is.Equal(rabibridge.ParseCode(""), rabibridge.CodeUnknown)
	is.True(rabibridge.CodeInternal.Valid())
}
