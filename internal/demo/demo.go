// Package demo holds the demo functions that `rabibridge demo` and
// `rabibridge serve-demo` serve, and that tests and benchmarks call. Python
// RabiBridge can call them too, e.g. remote_call('add', (1, 2)).
package demo

import (
	"context"
	"errors"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/registry"
)

// AddReq is the request of add: add(a, b) or add(a=1, b=2).
type AddReq struct {
	A int `msgpack:"a" json:"a"`
	B int `msgpack:"b" json:"b"`
}

// Descriptions document the demo functions.
var descriptions = map[string]string{
	"echo":  "Returns its one argument unchanged, whatever its type.",
	"add":   "Returns the integer a + b; refused when the sum does not fit in an int64.",
	"fib":   "Returns the n-th Fibonacci number (fib(10) = 55); n must be in [0, 92].",
	"fail":  "Always fails with a remote error whose message contains \"demo failure\".",
	"sleep": "Sleeps ms milliseconds, or until the call's deadline, and returns ms.",
}

// Echo returns its one argument unchanged, whatever its type.
func Echo(_ context.Context, x any) (any, error) { return x, nil }

// Add returns a + b. A sum that does not fit in an int is refused, not
// wrapped: add(2^63-1, 1) is an invalid_argument error, as Python's add
// would answer 2^63, which no Go int holds.
func Add(_ context.Context, r AddReq) (int, error) {
	sum := r.A + r.B
	if (sum > r.A) != (r.B > 0) {
		return 0, rabibridge.Errorf(rabibridge.CodeInvalidArgument, "add: a + b overflows: a = %d, b = %d", r.A, r.B)
	}
	return sum, nil
}

// Fib returns the n-th Fibonacci number: Fib(0) = 0, Fib(10) = 55. n must be
// in [0, 92], so the result fits in an int64.
func Fib(_ context.Context, n int) (int, error) {
	if n < 0 || n > 92 {
		return 0, rabibridge.Errorf(rabibridge.CodeInvalidArgument, "fib: n = %d is outside [0, 92]", n)
	}
	a, b := 0, 1
	for range n {
		a, b = b, a+b
	}
	return a, nil
}

// Fail always fails with a remote error whose message contains "demo
// failure".
func Fail(context.Context, struct{}) (any, error) {
	return nil, errors.New("demo failure: fail() always fails")
}

// Sleep sleeps ms milliseconds, or until ctx ends, and returns ms.
func Sleep(ctx context.Context, ms int) (int, error) {
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return ms, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

//go:generate go run ../../cmd/rabibridge docs --demo --format markdown --out ../../docs/api.md
//go:generate go run ../../cmd/rabibridge docs --demo --format asyncapi --out ../../docs/asyncapi.yaml

// Options are the options the demo functions are served with.
var Options = registry.Options{Validate: true}

// Names lists the demo functions in the order the demo calls them.
var Names = []string{"echo", "add", "fib", "fail", "sleep"}

// Register adds the demo functions to r with opts, each with its
// description.
func Register(r *registry.Registry, opts registry.Options) error {
	with := func(name string) registry.Options {
		o := opts
		o.Description = descriptions[name]
		return o
	}
	return errors.Join(
		registry.RegisterIn(r, "echo", Echo, with("echo")),
		registry.RegisterIn(r, "add", Add, with("add")),
		registry.RegisterIn(r, "fib", Fib, with("fib")),
		registry.RegisterIn(r, "fail", Fail, with("fail")),
		registry.RegisterIn(r, "sleep", Sleep, with("sleep")),
	)
}
