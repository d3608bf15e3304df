package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/invopop/jsonschema"
	validator "github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is the JSON Schema of one Go type with its compiled validator. It is
// immutable and safe for concurrent use.
type Schema struct {
	doc      []byte
	compiled *validator.Schema
}

// For returns the schema of type t. Structs are described with their fields
// (a field without `omitempty` is required, additional properties are
// refused); a type that travels as one positional argument (int, string,
// slice, any) is described as itself.
func For(t reflect.Type) (*Schema, error) {
	r := &jsonschema.Reflector{ExpandedStruct: true, Anonymous: true}
	var js *jsonschema.Schema
	if t.Kind() == reflect.Interface {
		js = &jsonschema.Schema{Version: jsonschema.Version} // anything
	} else {
		js = r.ReflectFromType(t)
	}
	doc, err := json.Marshal(js)
	if err != nil {
		return nil, fmt.Errorf("schema: %s: %w", t, err)
	}
	return compile(doc)
}

// Parse returns the schema held in doc, a JSON Schema document, for a type
// not known here (as when it comes from a remote worker's description).
func Parse(doc []byte) (*Schema, error) { return compile(doc) }

func compile(doc []byte) (*Schema, error) {
	v, err := validator.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	const url = "mem:///schema.json"
	c := validator.NewCompiler()
	if err := c.AddResource(url, v); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	compiled, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return &Schema{doc: doc, compiled: compiled}, nil
}

// JSON returns the schema document. The caller must not modify it.
func (s *Schema) JSON() []byte { return s.doc }

// MarshalJSON returns the schema document.
func (s *Schema) MarshalJSON() ([]byte, error) { return s.doc, nil }

// Validate checks v, a generic value as a decoder of JSON or msgpack produces
// it (maps with string keys, slices, numbers of any Go type, strings, bools,
// nil), against the schema. It returns nil or a *ValidationError.
func (s *Schema) Validate(v any) error {
	err := s.compiled.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*validator.ValidationError)
	if !ok {
		return &ValidationError{Problems: []Problem{{Path: "/", Message: err.Error()}}}
	}
	var out ValidationError
	collect(ve.BasicOutput(), &out.Problems)
	if len(out.Problems) == 0 {
		out.Problems = []Problem{{Path: "/", Message: ve.Error()}}
	}
	sort.SliceStable(out.Problems, func(i, j int) bool { return out.Problems[i].Path < out.Problems[j].Path })
	return &out
}

func collect(u *validator.OutputUnit, dst *[]Problem) {
	if u.Error != nil && len(u.Errors) == 0 {
		path := u.InstanceLocation
		if path == "" {
			path = "/"
		}
		*dst = append(*dst, Problem{Path: path, Message: u.Error.String()})
	}
	for i := range u.Errors {
		collect(&u.Errors[i], dst)
	}
}

// ValidationError lists every way a value fails its schema.
type ValidationError struct {
	Problems []Problem
}

// Problem is one validation failure: where (a JSON Pointer into the value,
// "/" for the value itself) and what.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Error returns the problems as "path: message" joined by "; ".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Path + ": " + p.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}
