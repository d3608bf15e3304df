package registry_test

import (
	"context"
	"fmt"
	"time"

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
	}, registry.Options{QueueSize: 10000, FetchSize: 128, Timeout: 10 * time.Second, Validate: true})
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
