package wire

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rabibridge/rabibridge/internal/fields"
)

// AsKwargs reports whether values of t travel as the keyword arguments of a
// request: structs, pointers to structs and maps do, unless they marshal
// themselves (time.Time, a TextMarshaler, a BinaryMarshaler, a
// json.Marshaler, a msgpack encoder); any other type travels as the one
// positional argument.
func AsKwargs(t reflect.Type) bool {
	if t == nil {
		return false
	}
	if k, ok := kwargsTypes.Load(t); ok {
		return k.(bool)
	}
	e := t
	if e.Kind() == reflect.Pointer {
		e = e.Elem()
	}
	k := (e.Kind() == reflect.Struct || e.Kind() == reflect.Map) && !marshalsItself(e)
	kwargsTypes.Store(t, k)
	return k
}

var kwargsTypes sync.Map // reflect.Type → bool

var selfMarshalers = []reflect.Type{
	reflect.TypeFor[encoding.TextMarshaler](),
	reflect.TypeFor[encoding.BinaryMarshaler](),
	reflect.TypeFor[json.Marshaler](),
	reflect.TypeFor[msgpack.CustomEncoder](),
	reflect.TypeFor[msgpack.Marshaler](),
}

// marshalsItself reports whether t or *t has a method that encodes it.
func marshalsItself(t reflect.Type) bool {
	for _, m := range selfMarshalers {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	return false
}

// FieldNames returns the wire names of the fields of struct type t (or
// pointer to struct), in declaration order, with embedded structs inlined: a
// field's msgpack tag, else its json tag, else its Go name. It fails when a
// field's msgpack and json tags name it differently, since the JSON Schema
// and the JSON codec use the json name.
func FieldNames(t reflect.Type) ([]string, error) {
	fs := fields.Of(t)
	names := make([]string, 0, len(fs))
	for _, f := range fs {
		if f.JSONTag != "" && f.Wire != f.JSONTag {
			return nil, fmt.Errorf("codec: field %s.%s is %q in its msgpack tag and %q in its json tag: give both the same name",
				f.Owner, f.Go, f.Wire, f.JSONTag)
		}
		names = append(names, f.Wire)
	}
	return names, nil
}

// Binder decodes request envelopes into values of one Go type. It is built
// once per handler, so no reflection runs per call.
type Binder struct {
	typ    reflect.Type
	kwargs bool
	fields []string
}

// NewBinder returns the Binder for type t.
func NewBinder(t reflect.Type) (*Binder, error) {
	b := &Binder{typ: t, kwargs: AsKwargs(t)}
	if b.kwargs {
		fields, err := FieldNames(t)
		if err != nil {
			return nil, err
		}
		b.fields = fields
	}
	return b, nil
}

// Bind decodes req into v, a pointer to a value of the Binder's type.
//
// A struct or map type takes the keyword arguments; positional arguments
// (from callers in other languages) fill the struct's fields in declaration
// order. Any other type takes the one positional argument, or the only
// keyword argument; a call with no argument for it is an error, as in
// Python.
//
// A []byte argument may share the memory of req, which shares the body it
// was decoded from (see UnmarshalShared): do not modify that body
// afterwards.
func (b *Binder) Bind(c Codec, req Request, v any) error {
	if b.kwargs && len(req.Args) == 0 {
		if c.IsEmpty(req.Kwargs) {
			return nil
		}
		return c.Unmarshal(req.Kwargs, v)
	}
	if !b.kwargs && len(req.Args) == 1 && c.IsEmpty(req.Kwargs) {
		return c.UnmarshalShared(req.Args[0], v)
	}
	if !b.kwargs && len(req.Args) == 0 && c.IsEmpty(req.Kwargs) {
		return fmt.Errorf("%w: want one argument, got none", ErrMalformed)
	}
	// The slow path: gather the arguments into one generic value and decode
	// that.
	g, err := b.Generic(c, req)
	if err != nil {
		return err
	}
	if g == nil {
		return nil
	}
	enc, err := c.Marshal(g)
	if err != nil {
		return err
	}
	return c.Unmarshal(enc, v)
}

// Generic returns the request as a generic value, the way a JSON Schema
// validator sees it: the argument map for a struct or map type (positional
// arguments named by the fields they fill), the one argument otherwise. It
// returns nil for a request with no arguments to a non-struct type.
func (b *Binder) Generic(c Codec, req Request) (any, error) {
	kw := map[string]any{}
	if !c.IsEmpty(req.Kwargs) {
		if err := c.Unmarshal(req.Kwargs, &kw); err != nil {
			return nil, err
		}
	}
	if !b.kwargs {
		switch {
		case len(req.Args) == 1 && len(kw) == 0:
			var v any
			err := c.Unmarshal(req.Args[0], &v)
			return v, err
		case len(req.Args) == 0 && len(kw) == 1:
			for _, v := range kw {
				return v, nil
			}
		case len(req.Args) == 0 && len(kw) == 0:
			return nil, nil
		}
		return nil, fmt.Errorf("%w: want one argument, got %d positional and %d keyword arguments",
			ErrMalformed, len(req.Args), len(kw))
	}
	if len(req.Args) > len(b.fields) {
		return nil, fmt.Errorf("%w: want at most %d positional arguments (%s), got %d",
			ErrMalformed, len(b.fields), strings.Join(b.fields, ", "), len(req.Args))
	}
	for i, raw := range req.Args {
		name := b.fields[i]
		if _, dup := kw[name]; dup {
			return nil, fmt.Errorf("%w: argument %q given by position and by name", ErrMalformed, name)
		}
		var v any
		if err := c.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		kw[name] = v
	}
	return kw, nil
}
