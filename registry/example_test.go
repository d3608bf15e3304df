package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/registry"
)

type AddReq struct {
	A int `msgpack:"a" json:"a" jsonschema:"minimum=0"`
	B int `msgpack:"b" json:"b"`
}

type AddResp struct {
	Sum int `msgpack:"sum" json:"sum"`
}

func ExampleRegister() {
	err := registry.Register("add", func(ctx context.Context, r AddReq) (AddResp, error) {
		return AddResp{Sum: r.A + r.B}, nil
	}, registry.Options{QueueSize: 10000, FetchSize: 128, MaxQueueWait: 10 * time.Second, Validate: true})
	if err != nil {
		panic(err)
	}
	for _, f := range registry.Default.Functions() {
		fmt.Println(f.Name, f.Kind, f.QueueSize)
		fmt.Println(string(f.Request))
	}
	// Output:
	// add async 10000
	// {"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"a":{"type":"integer","minimum":0},"b":{"type":"integer"}},"additionalProperties":false,"type":"object","required":["a","b"]}
}

func ExampleRegisterIn() {
	reg := registry.New()
	_ = registry.RegisterIn(reg, "greet", func(ctx context.Context, name string) (string, error) {
		return "hello, " + name, nil
	}, registry.Options{Description: "greets by name"})
	for _, f := range reg.Functions() {
		fmt.Println(f.Name, "-", f.Description)
	}
	// Output: greet - greets by name
}

func ExampleOptions() {
	reg := registry.New()
	var tick registry.Func[struct{}, int] = func(ctx context.Context, _ struct{}) (int, error) { return 1, nil }
	// One call at a time, as RabiBridge's sync functions; on a quorum queue,
	// which survives a node's loss and outlives its workers.
	_ = registry.RegisterIn(reg, "tick", tick, registry.Options{Kind: registry.Sync, QueueType: registry.Quorum})
	_ = registry.RegisterIn(reg, "tock", tick, registry.Options{Kind: registry.Async, QueueType: registry.Classic})
	err := registry.RegisterIn(reg, "tick", tick, registry.Options{})
	fmt.Println(errors.Is(err, registry.ErrDuplicate))
	for _, f := range reg.Functions() {
		var qt registry.QueueType = registry.QueueType(f.QueueType)
		fmt.Println(f.Name, f.Kind, qt, f.FetchSize)
	}
	fmt.Println(reg.Remove("tock"), len(reg.Functions()))
	// Output:
	// true
	// tick sync quorum 64
	// tock async classic 64
	// true 1
}

func ExampleInstance() {
	// What a worker says of itself in discovery (caller.Discover, the CLI's
	// `list`), as JSON on the wire.
	in := registry.Instance{ID: "w1", Host: "h", PID: 7, Version: "0.1.0",
		Functions: []registry.FunctionStats{{
			Function: registry.Function{Name: "add", Kind: "async", FetchSize: 64},
			Stats:    registry.Stats{Calls: 10, Errors: map[string]int64{"invalid_argument": 1}},
		}}}
	b, _ := json.Marshal(in.Functions[0].Stats)
	fmt.Println(in.Functions[0].Name, string(b))
	// Output: add {"calls":10,"errors":{"invalid_argument":1},"in_flight":0,"mean_ms":0,"p99_ms":0}
}

func ExampleCompare() {
	type reqV1 struct {
		A int `json:"a"`
	}
	type reqV2 struct {
		A int `json:"a"`
		B int `json:"b"` // a new required field: old callers do not send it
	}
	v1, v2 := registry.New(), registry.New()
	_ = registry.RegisterIn(v1, "add", func(context.Context, reqV1) (int, error) { return 0, nil }, registry.Options{})
	_ = registry.RegisterIn(v2, "add", func(context.Context, reqV2) (int, error) { return 0, nil }, registry.Options{})
	for _, c := range registry.Compare(v1.Functions(), v2.Functions()) {
		var _ registry.Change = c
		fmt.Println(c.Breaking, c.Where, "-", c.What)
	}
	// Output: true request /b - a required field was added
}

// How many calls a consumer takes at once when Options.FetchSize is zero.
func Example_defaults() {
	fmt.Println(registry.DefaultFetchSize)
	// Output: 64
}

// A worker implements a procedure its callers call by the same
// declaration (see rabibridge.Procedure and caller.NewClient).
func ExampleImplement() {
	type AddReq struct{ A, B int }
	add := rabibridge.Procedure[AddReq, int]{Name: "example_add"}
	err := registry.Implement(add, func(ctx context.Context, r AddReq) (int, error) { return r.A + r.B, nil }, registry.Options{})
	fmt.Println(err)
	// Output: <nil>
}
