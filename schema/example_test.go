package schema_test

import (
	"encoding/json"
	"errors"
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

func ExampleValidationError() {
	type Item struct {
		SKU string `json:"sku" jsonschema:"minLength=3"`
		Qty int    `json:"qty" jsonschema:"minimum=1"`
	}
	type Order struct {
		Items []Item `json:"items"`
	}
	s, _ := schema.For(reflect.TypeFor[Order]())
	err := s.Validate(map[string]any{"items": []any{map[string]any{"sku": "ab", "qty": 0}}})
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			var _ schema.Problem = p
			fmt.Println(p.Path, "-", p.Message)
		}
	}
	// Output:
	// /items/0/qty - minimum: got 0, want 1
	// /items/0/sku - minLength: got 2, want 3
}

func ExampleSchema_MarshalJSON() {
	s, _ := schema.For(reflect.TypeFor[[]string]())
	doc, _ := json.Marshal(s) // the schema document, as discovery and the docs carry it
	fmt.Println(string(doc))
	back, err := schema.Parse(doc)
	fmt.Println(err, back.Validate([]any{"a", 1}) != nil)
	// Output:
	// {"$schema":"https://json-schema.org/draft/2020-12/schema","items":{"type":"string"},"type":["array","null"]}
	// <nil> true
}
