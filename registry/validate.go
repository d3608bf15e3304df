package registry

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"time"

	"github.com/rabibridge/rabibridge/internal/fields"
	"github.com/rabibridge/rabibridge/schema"
)

// A request's schema describes what encoding/json writes for the request
// type (see schema.For), whichever codec carried the call. So a request is
// validated in that form: the decoded value, marshalled to JSON, keeps the
// fields the caller sent (so that a required field means a sent one) and
// gains the arguments the type has no field for (so that the schema refuses
// them). A time, a []byte, a [16]byte or a TextMarshaler is then what the
// schema says, through msgpack as through JSON, and a value built from the
// Go type passes unless a `jsonschema` tag tightens it.

// validate checks req, the decoded request of type t, against s; sent is
// the request as the caller sent it, as Binder.Generic gives it.
func validate(s *schema.Schema, t reflect.Type, req, sent any) error {
	form, err := jsonForm(req)
	if err != nil {
		// What JSON cannot hold (NaN, ±Inf): check the request as sent.
		return s.Validate(jsonValue(sent))
	}
	return s.Validate(restrict(form, sent, t))
}

// jsonForm returns v as encoding/json writes it, decoded into a generic
// value with json.Number numbers.
func jsonForm(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	err = d.Decode(&out)
	return out, err
}

// restrict returns form, the JSON form of a value of type t, with each
// object's fields limited to those sent holds (by their wire names) and
// with what sent holds beyond t's fields added, in JSON form.
func restrict(form, sent any, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if fields.OwnJSON(t) {
		return form // nothing to line up with what was sent
	}
	switch t.Kind() {
	case reflect.Struct:
		f, fok := form.(map[string]any)
		s, sok := sent.(map[string]any)
		if fok && sok {
			restrictFields(f, s, t)
		}
	case reflect.Slice, reflect.Array:
		f, fok := form.([]any)
		s, sok := sent.([]any)
		if fok && sok && len(f) == len(s) {
			for i := range f {
				f[i] = restrict(f[i], s[i], t.Elem())
			}
		}
	case reflect.Map:
		f, fok := form.(map[string]any)
		s, sok := sent.(map[string]any)
		if fok && sok {
			for k, v := range f {
				if sv, ok := s[k]; ok {
					f[k] = restrict(v, sv, t.Elem())
				}
			}
		}
	}
	return form
}

func restrictFields(form, sent map[string]any, t reflect.Type) {
	known := map[string]bool{}
	for _, fd := range fields.Of(t) {
		known[fd.Wire] = true
		if fd.JSON == "" {
			continue
		}
		sv, ok := sent[fd.Wire]
		if !ok {
			delete(form, fd.JSON)
			continue
		}
		v, ok := form[fd.JSON]
		if !ok { // omitempty left out the zero value that was sent
			v, _ = jsonForm(reflect.Zero(fd.Type).Interface())
		}
		form[fd.JSON] = restrict(v, sv, fd.Type)
	}
	for k, v := range sent {
		if !known[k] {
			form[k] = jsonValue(v) // for additionalProperties to refuse
		}
	}
}

// jsonValue returns v, a generic value a codec decoded, with what JSON
// has no form for (byte strings, times) as encoding/json writes it.
func jsonValue(v any) any {
	switch v := v.(type) {
	case []byte:
		return base64.StdEncoding.EncodeToString(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = jsonValue(v[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonValue(x)
		}
		return out
	}
	return v
}
