package wire

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"
)

// The decoding matrix: every wire value a peer sends, in every form the
// msgpack spec gives it, decoded into every kind of Go destination, alone,
// in a struct field and in an array. Each cell is exact (the value an
// oracle of its own computes: math/big for numbers) or refused with a
// *TypeError whose path names the cell.

// wireValue is a value as it travels, and what it is.
type wireValue struct {
	name string
	b    []byte
	kind string     // nil, bool, num, str, bin, time, array, map
	num  *big.Float // of a num
	val  any        // of a bool, str, bin, time
}

func num(name string, b []byte, n *big.Float) wireValue {
	return wireValue{name: name, b: b, kind: "num", num: n}
}

func intValue(n int64) wireValue {
	b, _ := appendMsgpack(nil, n)
	return num(fmt.Sprint(n), b, new(big.Float).SetInt64(n))
}

func uintValue(n uint64) wireValue {
	b, _ := appendMsgpack(nil, n)
	return num(fmt.Sprint(n), b, new(big.Float).SetUint64(n))
}

func floatValue(f float64) wireValue {
	return num(fmt.Sprintf("float64 %g", f), appendBig([]byte{0xcb}, math.Float64bits(f), 8), big.NewFloat(f))
}

func encoded(name, kind string, v any) wireValue {
	b, err := appendMsgpack(nil, v)
	if err != nil {
		panic(err)
	}
	return wireValue{name: name, b: b, kind: kind, val: v}
}

func wireValues() []wireValue {
	vs := []wireValue{
		{name: "nil", b: []byte{0xc0}, kind: "nil"},
		{name: "true", b: []byte{0xc3}, kind: "bool", val: true},
		{name: "false", b: []byte{0xc2}, kind: "bool", val: false},
	}
	for _, n := range []int64{0, 1, -1, 127, 128, -32, -33, -128, -129, 255, 256, 32767, 32768, -32768, -32769, 65535, 65536,
		math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxUint32, math.MaxUint32 + 1,
		1<<53 + 1, math.MaxInt64, math.MinInt64} {
		vs = append(vs, intValue(n))
	}
	vs = append(vs, uintValue(1<<63), uintValue(math.MaxUint64),
		// The wide forms of small numbers, as other encoders write them.
		num("5 as int64", []byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 5}, big.NewFloat(5)),
		num("5 as uint64", []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 5}, big.NewFloat(5)),
		num("-1 as int64", []byte{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, big.NewFloat(-1)),
		num("200 as int16", []byte{0xd1, 0, 200}, big.NewFloat(200)),
		num("float32 1.25", []byte{0xca, 0x3f, 0xa0, 0, 0}, big.NewFloat(1.25)),
	)
	for _, f := range []float64{1.5, 2, -2, 0.1, 1e20, 3.5e38, math.MaxFloat32, 1 << 63, 1 << 64, -(1 << 63)} {
		vs = append(vs, floatValue(f))
	}
	at := time.Date(2024, 1, 2, 3, 4, 5, 500, time.UTC)
	vs = append(vs,
		encoded("string", "str", "x"),
		encoded("RFC 3339 text", "str", "2024-01-02T03:04:05.0000005Z"),
		encoded("RFC 3339 text with an offset", "str", "2024-01-02T05:04:05.0000005+02:00"),
		encoded("text without a zone", "str", "2024-01-02T03:04:05"),
		encoded("bytes", "bin", []byte{1, 2}),
		wireValue{name: "timestamp 96", b: mustEncode(at), kind: "time", val: at},
		wireValue{name: "timestamp 32", b: []byte{0xd6, 0xff, 0, 0, 0, 60}, kind: "time", val: time.Unix(60, 0).UTC()},
		wireValue{name: "timestamp 64", b: []byte{0xd7, 0xff, 0, 0, 0, 4, 0, 0, 0, 60}, kind: "time", val: time.Unix(60, 1).UTC()},
		wireValue{name: "array", b: []byte{0x92, 0x01, 0x02}, kind: "array"},
		wireValue{name: "map", b: []byte{0x81, 0xa3, 'q', 't', 'y', 0x03}, kind: "map"},
	)
	return vs
}

func mustEncode(v any) []byte {
	b, err := appendMsgpack(nil, v)
	if err != nil {
		panic(err)
	}
	return b
}

type qty struct {
	Qty int `json:"qty"`
}

// destinations are the Go types decoded into.
var destinations = []reflect.Type{
	reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](), reflect.TypeFor[int64](),
	reflect.TypeFor[uint](), reflect.TypeFor[uint8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](),
	reflect.TypeFor[float32](), reflect.TypeFor[float64](), reflect.TypeFor[bool](), reflect.TypeFor[string](),
	reflect.TypeFor[[]byte](), reflect.TypeFor[time.Time](), reflect.TypeFor[*time.Time](), reflect.TypeFor[*int](),
	reflect.TypeFor[any](), reflect.TypeFor[qty](), reflect.TypeFor[[]int](), reflect.TypeFor[map[string]int](),
}

// oracle returns what w decoded into t must give, or false when it must be
// refused.
func oracle(w wireValue, t reflect.Type) (any, bool) {
	zero := reflect.Zero(t).Interface()
	if w.kind == "nil" {
		return zero, true // encoding/json's rule: nil leaves the (new) value as it is
	}
	if t.Kind() == reflect.Pointer {
		v, ok := oracle(w, t.Elem())
		if !ok {
			return nil, false
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(reflect.ValueOf(v))
		return p.Interface(), true
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if w.kind != "num" || !w.num.IsInt() {
			return nil, false
		}
		n, acc := w.num.Int64()
		if acc != big.Exact || reflect.New(t).Elem().OverflowInt(n) {
			return nil, false
		}
		return reflect.ValueOf(n).Convert(t).Interface(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if w.kind != "num" || !w.num.IsInt() || w.num.Sign() < 0 {
			return nil, false
		}
		n, acc := w.num.Uint64()
		if acc != big.Exact || reflect.New(t).Elem().OverflowUint(n) {
			return nil, false
		}
		return reflect.ValueOf(n).Convert(t).Interface(), true
	case reflect.Float32:
		if w.kind != "num" {
			return nil, false
		}
		f, _ := w.num.Float32()
		if math.IsInf(float64(f), 0) {
			return nil, false
		}
		return f, true
	case reflect.Float64:
		if w.kind != "num" {
			return nil, false
		}
		f, _ := w.num.Float64()
		return f, true
	}
	switch t {
	case reflect.TypeFor[bool]():
		return w.val, w.kind == "bool"
	case reflect.TypeFor[string]():
		switch w.kind {
		case "str":
			return w.val, true
		case "bin":
			return string(w.val.([]byte)), true
		case "time":
			return w.val.(time.Time).Format(time.RFC3339Nano), true
		}
	case reflect.TypeFor[[]byte]():
		switch w.kind {
		case "str":
			return []byte(w.val.(string)), true
		case "bin":
			return w.val, true
		case "array":
			return []byte{1, 2}, true
		}
	case reflect.TypeFor[time.Time]():
		switch w.kind {
		case "time":
			return w.val, true
		case "str":
			tm, err := time.Parse(time.RFC3339Nano, w.val.(string))
			return tm.UTC(), err == nil
		}
	case reflect.TypeFor[any]():
		return anyOf(w), true
	case reflect.TypeFor[qty]():
		return qty{3}, w.kind == "map"
	case reflect.TypeFor[[]int]():
		return []int{1, 2}, w.kind == "array"
	case reflect.TypeFor[map[string]int]():
		return map[string]int{"qty": 3}, w.kind == "map"
	}
	return nil, false
}

// anyOf is what w decodes to in an interface.
func anyOf(w wireValue) any {
	switch w.kind {
	case "num":
		if n, acc := w.num.Int64(); acc == big.Exact && w.num.IsInt() && !isFloat(w.b) {
			return n
		}
		if n, acc := w.num.Uint64(); acc == big.Exact && w.num.IsInt() && !isFloat(w.b) {
			return n
		}
		f, _ := w.num.Float64()
		return f
	case "array":
		return []any{int64(1), int64(2)}
	case "map":
		return map[string]any{"qty": int64(3)}
	}
	return w.val
}

func isFloat(b []byte) bool { return b[0] == 0xca || b[0] == 0xcb }

// placements put a cell alone, in a struct field and in an array.
var placements = []struct {
	name string
	path string
	wrap func(b []byte) []byte
	typ  func(t reflect.Type) reflect.Type
	get  func(v reflect.Value) reflect.Value
}{
	{"alone", "", func(b []byte) []byte { return b },
		func(t reflect.Type) reflect.Type { return t }, func(v reflect.Value) reflect.Value { return v }},
	{"field", "/v", func(b []byte) []byte { return append([]byte{0x82, 0xa1, 'w', 0x01, 0xa1, 'v'}, b...) },
		func(t reflect.Type) reflect.Type {
			return reflect.StructOf([]reflect.StructField{{Name: "V", Type: t, Tag: `json:"v"`}, {Name: "W", Type: reflect.TypeFor[int](), Tag: `json:"w"`}})
		},
		func(v reflect.Value) reflect.Value { return v.Field(0) }},
	{"element", "/1", func(b []byte) []byte { return append([]byte{0x92, 0xc0}, b...) },
		func(t reflect.Type) reflect.Type { return reflect.SliceOf(t) },
		func(v reflect.Value) reflect.Value { return v.Index(1) }},
}

func TestDecodeMatrix(t *testing.T) {
	cells := 0
	for _, w := range wireValues() {
		for _, dt := range destinations {
			want, ok := oracle(w, dt)
			for _, pl := range placements {
				cells++
				body := pl.wrap(w.b)
				p := reflect.New(pl.typ(dt))
				err := Msgpack.Unmarshal(body, p.Interface())
				name := fmt.Sprintf("%s into %v (%s)", w.name, dt, pl.name)
				if !ok {
					var te *TypeError
					if !errors.As(err, &te) || te.Path != pl.path || errors.Is(err, ErrMalformed) {
						t.Errorf("%s: want a type error at %q, got %v (%+v)", name, pl.path, err, p.Elem().Interface())
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: want %#v, got error %v", name, want, err)
					continue
				}
				if got := pl.get(p.Elem()).Interface(); !sameValue(got, want) {
					t.Errorf("%s: got %#v, want %#v", name, got, want)
				}
			}
		}
	}
	t.Logf("%d cells", cells)
}

// sameValue is reflect.DeepEqual, with times compared by Equal and their
// zone (UTC), and NaN equal to NaN.
func sameValue(got, want any) bool {
	if g, ok := got.(time.Time); ok {
		w, ok := want.(time.Time)
		return ok && g.Equal(w) && g.Location() == time.UTC
	}
	if g, ok := got.(*time.Time); ok && g != nil {
		w, ok := want.(*time.Time)
		return ok && w != nil && sameValue(*g, *w)
	}
	return equalNaN(got, want)
}

// TestDecodeMatrixJSON runs the cells JSON can carry through the JSON
// codec: it accepts and refuses the same, with the same paths.
func TestDecodeMatrixJSON(t *testing.T) {
	for _, w := range wireValues() {
		if w.kind == "bin" || w.kind == "time" {
			continue // no JSON form
		}
		var x any
		if err := unmarshalMsgpack(w.b, &x); err != nil {
			t.Fatal(err)
		}
		text, err := JSON.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		if w.kind == "num" { // the number the text says: a float's shortest text is another integer
			w.num, _, _ = big.ParseFloat(string(text), 10, 256, big.ToNearestEven)
		}
		for _, dt := range destinations {
			if dt == reflect.TypeFor[[]byte]() || dt == reflect.TypeFor[any]() {
				continue // base64 text; json.Number
			}
			want, ok := oracle(w, dt)
			for _, pl := range placements {
				body := jsonWrap(pl.name, text)
				p := reflect.New(pl.typ(dt))
				err := JSON.Unmarshal(body, p.Interface())
				name := fmt.Sprintf("%s into %v (%s)", body, dt, pl.name)
				if !ok {
					var te *TypeError
					if !errors.As(err, &te) || te.Path != pl.path {
						t.Errorf("%s: want a type error at %q, got %v", name, pl.path, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: want %#v, got error %v", name, want, err)
				} else if got := pl.get(p.Elem()).Interface(); !sameValue(got, want) {
					t.Errorf("%s: got %#v, want %#v", name, got, want)
				}
			}
		}
	}
}

func jsonWrap(placement string, text []byte) []byte {
	switch placement {
	case "field":
		return fmt.Appendf(nil, `{"w":1,"v":%s}`, text)
	case "element":
		return fmt.Appendf(nil, `[null,%s]`, text)
	}
	return text
}

// TestDecodeErrors: what the errors say, whole.
func TestDecodeErrors(t *testing.T) {
	type inner struct {
		Qty int `json:"qty"`
	}
	type order struct {
		Items []inner          `json:"items"`
		N     int64            `json:"n"`
		At    time.Time        `json:"at"`
		Tags  map[string]uint8 `json:"tags"`
	}
	for _, c := range []struct{ body, want string }{
		{`{"items":[{"qty":1},{"qty":"x"}]}`, "/items/1/qty: cannot decode string into int"},
		{`{"n":9223372036854775808}`, "/n: cannot decode integer 9223372036854775808 into int64: out of range"},
		{`{"n":1.5}`, "/n: cannot decode float 1.5 into int64: not an integer"},
		{`{"at":"2024-01-01T00:00:00"}`, `/at: cannot decode string into time.Time: "2024-01-01T00:00:00" is not RFC 3339 text with a zone`},
		{`{"tags":{"a/b":300}}`, "/tags/a~1b: cannot decode integer 300 into uint8: out of range"},
		{`{"items":{"qty":1}}`, "/items: cannot decode map into []wire.inner"},
	} {
		var x any
		if err := JSON.Unmarshal([]byte(c.body), &x); err != nil {
			t.Fatal(err)
		}
		for _, cd := range []Codec{Msgpack, JSON} {
			body := []byte(c.body)
			if cd == Msgpack {
				body = mustEncode(numbersOf(x))
			}
			var o order
			err := cd.Unmarshal(body, &o)
			if want := "codec: " + cd.Name() + ": " + c.want; err == nil || err.Error() != want {
				t.Errorf("%s by %s:\n got %v\nwant %s", c.body, cd.Name(), err, want)
			}
		}
	}
}

// TestDecodeNoPanic: values that panicked inside msgpack v5 are errors or
// zero values.
func TestDecodeNoPanic(t *testing.T) {
	type withTime struct {
		At  time.Time  `json:"at"`
		PAt *time.Time `json:"pat"`
	}
	var v withTime
	err := Msgpack.Unmarshal(mustEncode(map[string]any{"at": nil, "pat": nil}), &v)
	if err != nil || !v.At.IsZero() || v.PAt != nil {
		t.Fatalf("nil times: %v %+v", err, v)
	}
}

// TestDecodeSelfDecoding: a type with its own decoding method decodes
// itself, and its error names the path.
func TestDecodeSelfDecoding(t *testing.T) {
	type holder struct {
		L []level `json:"l"`
	}
	var h holder
	if err := Msgpack.Unmarshal(mustEncode(map[string]any{"l": []string{"high", "low"}}), &h); err != nil || !reflect.DeepEqual(h.L, []level{2, 1}) {
		t.Fatalf("%v %+v", err, h)
	}
	err := Msgpack.Unmarshal(mustEncode(map[string]any{"l": []string{"high", "odd"}}), &h)
	var te *TypeError
	if !errors.As(err, &te) || te.Path != "/l/1" || !bytes.Contains([]byte(err.Error()), []byte(`level "odd"`)) {
		t.Fatalf("%v", err)
	}
}

type level int

func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return fmt.Errorf("level %q", b)
	}
	return nil
}

type tree struct {
	N    int8   `json:"n"`
	Kids []tree `json:"kids"`
	Next *tree  `json:"next"`
}

type octet byte

// TestDecodeShapes: recursive types, byte arrays of a named byte type,
// embedded structs through pointers.
func TestDecodeShapes(t *testing.T) {
	var tr tree
	body := mustEncode(map[string]any{"n": 1, "kids": []any{map[string]any{"n": 2}}, "next": map[string]any{"n": 3, "next": map[string]any{"n": 300}}})
	err := Msgpack.Unmarshal(body, &tr)
	var te *TypeError
	if !errors.As(err, &te) || te.Path != "/next/next/n" {
		t.Fatalf("recursive: %v", err)
	}
	var arr struct {
		A [3]octet `json:"a"`
	}
	if err := Msgpack.Unmarshal(mustEncode(map[string]any{"a": []byte{1, 2, 3}}), &arr); err != nil || arr.A != [3]octet{1, 2, 3} {
		t.Fatalf("byte array: %v %v", err, arr)
	}
	if err := Msgpack.Unmarshal(mustEncode(map[string]any{"a": []byte{1, 2}}), &arr); !errors.As(err, &te) || te.Path != "/a" {
		t.Fatalf("short byte array: %v", err)
	}
	type Base struct {
		ID int `json:"id"`
	}
	var emb struct {
		*Base
		Name string `json:"name"`
	}
	if err := Msgpack.Unmarshal(mustEncode(map[string]any{"id": 7, "name": "x"}), &emb); err != nil || emb.Base == nil || emb.ID != 7 {
		t.Fatalf("embedded pointer: %v %+v", err, emb)
	}
}
