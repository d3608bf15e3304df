package schema_test

import (
	"fmt"
	"reflect"

	"github.com/rabibridge/rabibridge/schema"
)

func ExampleFor() {
	type AddReq struct {
		A int `json:"a" jsonschema:"minimum=0"`
		B int `json:"b"`
	}
	s, _ := schema.For(reflect.TypeFor[AddReq]())
	fmt.Println(s.Validate(map[string]any{"a": -1, "b": "two"}))
	// Output: invalid: /a: minimum: got -1, want 0; /b: got string, want integer
}
