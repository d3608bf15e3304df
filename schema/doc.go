// Package schema builds JSON Schemas (draft 2020-12) for Go types by
// reflection and validates requests against them.
//
// Field names follow the json struct tag (the msgpack tag, where given, must
// agree); constraints come from `jsonschema` tags, as documented by
// github.com/invopop/jsonschema:
//
//	type AddReq struct {
//		A int `json:"a" jsonschema:"minimum=0"`
//		B int `json:"b"`
//	}
//	s, _ := schema.For(reflect.TypeFor[AddReq]())
//	err := s.Validate(map[string]any{"a": -1}) // a *schema.ValidationError naming /a and /b
package schema
