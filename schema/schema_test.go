package schema_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/schema"
)

type addReq struct {
	A int    `json:"a" jsonschema:"minimum=0"`
	B int    `json:"b"`
	N string `json:"n,omitempty" jsonschema:"maxLength=3"`
}

func TestValidate(t *testing.T) {
	s, err := schema.For(reflect.TypeFor[addReq]())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		value any
		paths []string
	}{
		{"valid", map[string]any{"a": int64(1), "b": uint64(2)}, nil},
		{"valid with optional", map[string]any{"a": 0, "b": 2, "n": "abc"}, nil},
		{"below minimum", map[string]any{"a": int64(-1), "b": 2}, []string{"/a"}},
		{"every path named", map[string]any{"a": -1, "b": "x", "n": "long"}, []string{"/a", "/b", "/n"}},
		{"missing field", map[string]any{"a": 1}, []string{"/"}},
		{"unknown field", map[string]any{"a": 1, "b": 2, "c": 3}, []string{"/"}},
		{"not an object", []any{1, 2}, []string{"/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			err := s.Validate(tc.value)
			if tc.paths == nil {
				is.NoErr(err)
				return
			}
			var ve *schema.ValidationError
			is.True(errors.As(err, &ve))
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Path)
				is.True(p.Message != "")
			}
			for _, want := range tc.paths {
				is.True(strings.Contains(strings.Join(got, " "), want)) // every offending path is named
			}
		})
	}
}

func TestSchemaDocument(t *testing.T) {
	is := is.New(t)
	s, err := schema.For(reflect.TypeFor[addReq]())
	is.NoErr(err)
	doc := string(s.JSON())
	is.True(strings.Contains(doc, `"minimum":0`))
	is.True(strings.Contains(doc, `"required":["a","b"]`))

	p, err := schema.Parse(s.JSON())
	is.NoErr(err)
	is.True(p.Validate(map[string]any{"a": -5, "b": 1}) != nil)

	for _, typ := range []reflect.Type{reflect.TypeFor[int](), reflect.TypeFor[any](), reflect.TypeFor[[]string]()} {
		_, err := schema.For(typ)
		is.NoErr(err)
	}
	i, _ := schema.For(reflect.TypeFor[int]())
	is.True(i.Validate("x") != nil)
	is.NoErr(i.Validate(int64(4)))
}
