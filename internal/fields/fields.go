// Package fields lists a struct's fields by the names the codecs give them:
// the wire name (msgpack tag, else json tag, else Go name; what the msgpack
// codec and RabiBridge's keyword arguments use) and the JSON name (json
// tag, else Go name; what encoding/json and the JSON Schemas use).
package fields

import (
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// Field is one field of a struct, embedded structs' fields inlined.
type Field struct {
	Wire  string
	JSON  string // empty for a field tagged json:"-" with a msgpack name
	Go    string // the Go name, of the field in the struct that declares it
	Owner string // the name of the struct that declares it
	Type  reflect.Type
	// Index is where the field is, through embedded structs, as
	// reflect.Value.FieldByIndex takes it.
	Index []int
	// JSONTag is the name the json tag gives ("" when it gives none, "-"
	// when it leaves the field out).
	JSONTag string
	// Required is true for a field tagged `jsonschema:"required"`.
	Required bool
}

var cache sync.Map // reflect.Type → []Field

// Of returns the fields of struct type t (or pointer to struct), in
// declaration order, with the fields of embedded structs that have no name
// of their own inlined, as both codecs inline them; nil for any other type.
// Unexported fields and fields named "-" are left out.
func Of(t reflect.Type) []Field {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	if fs, ok := cache.Load(t); ok {
		return fs.([]Field)
	}
	fs := of(t, nil, 0)
	cache.Store(t, fs)
	return fs
}

func of(t reflect.Type, index []int, depth int) []Field {
	var out []Field
	for f := range t.Fields() {
		at := append(append([]int(nil), index...), f.Index...)
		mp, _, _ := strings.Cut(f.Tag.Get("msgpack"), ",")
		js, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if mp == "-" || (mp == "" && js == "-") {
			continue
		}
		if f.Anonymous && mp == "" && js == "" && depth < 10 {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, of(ft, at, depth+1)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		field := Field{Wire: mp, JSON: js, JSONTag: js, Go: f.Name, Owner: t.Name(), Type: f.Type, Index: at,
			Required: slices.Contains(strings.Split(f.Tag.Get("jsonschema"), ","), "required")}
		switch field.JSON {
		case "-":
			field.JSON = "" // on the wire, not in JSON
		case "":
			field.JSON = f.Name
		}
		if field.Wire == "" {
			field.Wire = field.JSON
		}
		out = append(out, field)
	}
	return out
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// OwnJSON reports whether encoding/json writes values of t by a method of
// their own (time.Time, a json.Marshaler or a TextMarshaler, on t or *t),
// not field by field.
func OwnJSON(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t == timeType || t.Implements(jsonMarshaler) || p.Implements(jsonMarshaler) ||
		t.Implements(textMarshaler) || p.Implements(textMarshaler)
}
