package schema

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
	"github.com/rabibridge/rabibridge/internal/fields"
)

// invopop/jsonschema describes a Go type as if no value of it were nil and
// as if custom marshalers did not exist; encoding/json (and msgpack) send
// null for a nil pointer, slice or map, and text for a TextMarshaler. What
// follows makes the schema say what the codecs send, so that a value built
// from the Go type is never refused for its shape.

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	customSchema  = reflect.TypeFor[interface{ JSONSchema() *jsonschema.Schema }]()
	timeType      = reflect.TypeFor[time.Time]()
)

// mapType gives the schema of types that marshal themselves, unless they
// describe themselves (a JSONSchema method) or invopop knows them.
func mapType(t reflect.Type) *jsonschema.Schema {
	if t == timeType || !fields.OwnJSON(t) || implements(t, customSchema) {
		return nil
	}
	if implements(t, jsonMarshaler) {
		return &jsonschema.Schema{} // anything: what MarshalJSON writes is its own
	}
	return &jsonschema.Schema{Type: "string"} // a TextMarshaler
}

// qualifier matches the package path before a type's name in a generic
// type's name: page[example.com/shop.Item] is page[Item].
var qualifier = regexp.MustCompile(`[^\[\],*]*\.`)

// typeName names t's definition. A generic type's name holds its type
// arguments' package paths, whose slashes would make a $ref to it point
// nowhere: they are left out.
func typeName(t reflect.Type) string {
	name := t.Name()
	open := strings.IndexByte(name, '[')
	if open < 0 {
		return name
	}
	return name[:open] + qualifier.ReplaceAllString(name[open:], "")
}

func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || reflect.PointerTo(t).Implements(iface)
}

// fixNulls makes root, invopop's schema of t, accept null wherever a value
// of t can be nil, except in a field tagged `jsonschema:"required"`: such
// a field must be given, and not null; any other nil-able field is
// optional.
func fixNulls(root *jsonschema.Schema, t reflect.Type) {
	f := &fixer{defs: root.Definitions, done: map[*jsonschema.Schema]bool{}}
	f.fix(root, t)
	if nilable(t) {
		makeNullable(root)
	}
}

type fixer struct {
	defs jsonschema.Definitions
	done map[*jsonschema.Schema]bool // definitions fixed, for recursive types
}

// nilable reports whether encoding/json can write null for a value of t.
func nilable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		return true
	}
	return false
}

func (f *fixer) fix(s *jsonschema.Schema, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == nil || mapType(t) != nil || t == timeType {
		return
	}
	if s.Ref != "" {
		s = f.defs[strings.TrimPrefix(s.Ref, "#/$defs/")]
	}
	if s == nil || f.done[s] {
		return
	}
	f.done[s] = true
	switch t.Kind() {
	case reflect.Struct:
		f.fixFields(s, t)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return // []byte: a base64 string
		}
		f.fixElem(&s.Items, t.Elem())
	case reflect.Map:
		f.fixElem(&s.AdditionalProperties, t.Elem())
	}
}

// fixElem fixes the schema of an element of type t held in *s, and lets
// it be null where an element can be nil.
func (f *fixer) fixElem(s **jsonschema.Schema, t reflect.Type) {
	f.fix(*s, t)
	if *s != nil && nilable(t) {
		*s = nullable(*s)
	}
}

func (f *fixer) fixFields(s *jsonschema.Schema, t reflect.Type) {
	if s.Properties == nil {
		return
	}
	for _, fd := range fields.Of(t) {
		prop, ok := s.Properties.Get(fd.JSON)
		if fd.JSON == "" || !ok {
			continue
		}
		f.fix(prop, fd.Type)
		if !nilable(fd.Type) || fd.Required {
			continue // required: given, and not null
		}
		s.Properties.Set(fd.JSON, nullable(prop))
		s.Required = slices.DeleteFunc(s.Required, func(n string) bool { return n == fd.JSON })
	}
}

// nullable returns s letting null through too: a type array where s names
// a type, an anyOf around a reference.
func nullable(s *jsonschema.Schema) *jsonschema.Schema {
	switch {
	case s.Ref != "":
		return &jsonschema.Schema{AnyOf: []*jsonschema.Schema{s, {Type: "null"}}}
	case s.Type != "" && s.Type != "null":
		makeNullable(s)
	}
	return s // no type: null passes already
}

func makeNullable(s *jsonschema.Schema) {
	if s.Type == "" {
		return
	}
	if s.Extras == nil {
		s.Extras = map[string]any{}
	}
	s.Extras["type"] = []string{s.Type, "null"}
	s.Type = ""
}
