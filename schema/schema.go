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
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is the JSON Schema of one Go type with its compiled validator. It is
// immutable and safe for concurrent use.
type Schema struct {
	doc      []byte
	compiled *validator.Schema
}

// For returns the schema of type t, describing the values encoding/json
// gives for t, and so every value of t:
//
//   - a struct is an object of its fields, named by their json tags, with
//     additional properties refused;
//   - a field is required unless it is tagged omitempty or can be nil (a
//     pointer, slice or map); `jsonschema:"required"` requires any field,
//     and refuses null for it;
//   - any other value that can be nil (pointer, slice, map) may be null;
//   - a type with a MarshalText method is a string, one with only a
//     MarshalJSON method anything (give it a JSONSchema method to say
//     more); time.Time is a date-time string, []byte a base64 string;
//   - a type that travels as one positional argument (int, string, slice,
//     any) is described as itself.
//
// `jsonschema` tags tighten fields (minimum, maxLength, pattern, enum, …),
// as github.com/invopop/jsonschema documents.
func For(t reflect.Type) (*Schema, error) {
	var js *jsonschema.Schema
	if t.Kind() == reflect.Interface {
		js = &jsonschema.Schema{Version: jsonschema.Version} // anything
	} else {
		r := &jsonschema.Reflector{ExpandedStruct: true, Anonymous: true, Mapper: mapType, Namer: typeName}
		js = r.ReflectFromType(t)
		fixNulls(js, t)
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

// Validate checks v, a generic value as encoding/json decodes it (maps with
// string keys, slices, numbers of any Go type or json.Number, strings,
// bools, nil), against the schema. It returns nil or a *ValidationError.
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
	collect(ve, &out.Problems)
	if len(out.Problems) == 0 {
		out.Problems = []Problem{{Path: "/", Message: ve.Error()}}
	}
	sort.SliceStable(out.Problems, func(i, j int) bool { return out.Problems[i].Path < out.Problems[j].Path })
	return &out
}

var printer = message.NewPrinter(language.English)

// collect appends the leaves of e's tree of causes: each names the
// constraint, the value and the limit ("minimum: got 0, want 1"), at any
// depth. The null branch of a nullable reference (see nullable) fails for
// every value that is not null; what the value failed is the other branch.
func collect(e *validator.ValidationError, dst *[]Problem) {
	if len(e.Causes) == 0 {
		if t, ok := e.ErrorKind.(*kind.Type); ok && len(t.Want) == 1 && t.Want[0] == "null" {
			return
		}
		path := pointer(e.InstanceLocation)
		*dst = append(*dst, Problem{Path: path, Message: e.ErrorKind.LocalizedString(printer)})
		return
	}
	for _, c := range e.Causes {
		collect(c, dst)
	}
}

// pointer returns the JSON Pointer of tokens, "/" for none.
func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return "/"
	}
	var sb strings.Builder
	for _, tok := range tokens {
		sb.WriteByte('/')
		sb.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
	}
	return sb.String()
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
