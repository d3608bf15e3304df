package wire

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The differential fuzz target: msgpack decoded into typed structs by the
// codec, and the same value through an any and a JSON round trip by
// encoding/json, must be accepted or refused alike, to the same value.

type fzInner struct {
	Qty   int8    `json:"qty"`
	Price float32 `json:"price"`
	Name  string  `json:"name"`
}

type fzAll struct {
	I     int              `json:"i"`
	I8    int8             `json:"i8"`
	I16   int16            `json:"i16"`
	I32   int32            `json:"i32"`
	I64   int64            `json:"i64"`
	U     uint             `json:"u"`
	U8    uint8            `json:"u8"`
	U16   uint16           `json:"u16"`
	U32   uint32           `json:"u32"`
	U64   uint64           `json:"u64"`
	F32   float32          `json:"f32"`
	F64   float64          `json:"f64"`
	B     bool             `json:"b"`
	S     string           `json:"s"`
	T     time.Time        `json:"t"`
	PT    *time.Time       `json:"pt"`
	P     *int64           `json:"p"`
	Items []fzInner        `json:"items"`
	M     map[string]int16 `json:"m"`
	In    fzInner          `json:"in"`
	PIn   *fzInner         `json:"pin"`
}

var fzNames = func() (names []string) {
	for _, t := range []reflect.Type{reflect.TypeFor[fzAll](), reflect.TypeFor[fzInner]()} {
		for f := range t.Fields() {
			names = append(names, strings.Split(f.Tag.Get("json"), ",")[0])
		}
	}
	return append(names, "zz")
}()

// gen builds a msgpack value from the fuzzer's bytes: the choices of a
// generator, so that most inputs are maps of the structs' own field names
// holding values of every kind at their edges.
type gen struct {
	in []byte
}

func (g *gen) next() int {
	if len(g.in) == 0 {
		return 0
	}
	c := int(g.in[0])
	g.in = g.in[1:]
	return c
}

var edgeInts = []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769, 65535, 65536,
	math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxUint32, math.MaxUint32 + 1,
	1<<53 + 1, math.MaxInt64, math.MinInt64}

var edgeFloats = []float64{0.5, 2, -2, 0.1, 1e20, 3.5e38, math.MaxFloat32, 1 << 63, 1 << 64, 1e-50, math.Copysign(0, -1)}

var edgeTexts = []string{"", "x", "2024-01-02T03:04:05.5Z", "2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05", "1"}

func (g *gen) value(dst []byte, depth int) []byte {
	switch c := g.next(); c % 12 {
	case 0:
		return append(dst, 0xc0)
	case 1:
		return append(dst, 0xc2+byte(c/12%2))
	case 2:
		n := edgeInts[g.next()%len(edgeInts)]
		return widen(dst, n, g.next())
	case 3:
		u := []uint64{1 << 63, math.MaxUint64}[g.next()%2]
		return appendBig(append(dst, 0xcf), u, 8)
	case 4:
		f := edgeFloats[g.next()%len(edgeFloats)]
		if g.next()%3 == 0 {
			return appendBig(append(dst, 0xca), uint64(math.Float32bits(float32(f))), 4)
		}
		return appendBig(append(dst, 0xcb), math.Float64bits(f), 8)
	case 5:
		return appendString(dst, edgeTexts[g.next()%len(edgeTexts)])
	case 6:
		at := time.Unix(int64(g.next())<<int(g.next()%36), int64(g.next())*1e6).UTC()
		b, _ := appendMsgpack(dst, at)
		return b
	case 7, 8:
		if depth > 3 {
			return append(dst, 0x90)
		}
		n := g.next() % 4
		dst = appendHead(dst, arrayForm, n)
		for range n {
			dst = g.value(dst, depth+1)
		}
		return dst
	}
	if depth > 3 {
		return append(dst, 0x80)
	}
	return g.object(dst, depth)
}

func (g *gen) object(dst []byte, depth int) []byte {
	n := g.next() % 5
	dst = appendHead(dst, mapForm, n)
	first := g.next()
	for i := range n { // distinct keys: a repeated key's earlier values are lost in an any
		dst = appendString(dst, fzNames[(first+i)%len(fzNames)])
		dst = g.value(dst, depth+1)
	}
	return dst
}

// repeatsKey reports whether a map in the msgpack value b has a key twice.
func repeatsKey(b []byte) bool {
	_, repeats := walkKeys(b)
	return repeats
}

func walkKeys(b []byte) (size int, repeats bool) {
	h := readHead(b)
	switch h.kind {
	case kArray:
		off := h.size
		for range h.n {
			n, r := walkKeys(b[off:])
			off, repeats = off+n, repeats || r
		}
		return off, repeats
	case kMap:
		off, seen := h.size, map[string]bool{}
		for range h.n {
			if k, _, ok := readText(b[off:]); ok {
				repeats = repeats || seen[string(k)]
				seen[string(k)] = true
			}
			for range 2 {
				n, r := walkKeys(b[off:])
				off, repeats = off+n, repeats || r
			}
		}
		return off, repeats
	}
	n, _ := msgpackSkip(b, 0)
	return n, false
}

// widen writes n in its smallest form or a wider one, as encoders other
// than msgpack v5 may.
func widen(dst []byte, n int64, choice int) []byte {
	if choice%2 == 0 {
		return appendCompactInt(dst, n)
	}
	if n >= 0 {
		return appendBig(append(dst, 0xcf), uint64(n), 8)
	}
	return appendBig(append(dst, 0xd3), uint64(n), 8)
}

func FuzzDecodeDifferential(f *testing.F) {
	f.Add([]byte{0, 4, 0, 2, 10, 0})
	f.Add([]byte{0, 4, 1, 3, 0, 9, 9, 2, 6, 1, 11, 1, 4, 0, 4, 0})
	f.Add([]byte{0, 3, 14, 6, 1, 2, 3, 17, 5, 2, 18, 2, 4, 1})
	f.Add([]byte{1, 0x81, 0xa1, 'i', 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0})
	for _, b := range decodeBodies() { // raw bodies at the decoder's edges
		f.Add(append([]byte{1}, b...))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		body := in[1:]
		if in[0]%2 == 0 {
			g := &gen{in: body}
			body = g.object(nil, 0)
		}
		differential[fzAll](t, body)
		differential[[]fzInner](t, body)
		differential[map[string]uint16](t, body)
	})
}

// differential decodes body into a T by the codec and by encoding/json
// through an any, and fails where they disagree.
func differential[T any](t *testing.T, body []byte) {
	var got T
	errGot := Msgpack.Unmarshal(body, &got)
	if errGot != nil {
		var te *TypeError
		if errors.As(errGot, &te) == errors.Is(errGot, ErrMalformed) {
			t.Fatalf("% x into %T: %v: want either a type error or a malformed body", body, got, errGot)
		}
	}
	var x any
	if checkMsgpack(body) != nil || unmarshalMsgpack(body, &x) != nil || !jsonSafe(x) || repeatsKey(body) {
		return // no JSON form to compare with
	}
	text, err := json.Marshal(exactNumbers(x))
	if err != nil {
		return // NaN, infinities, years past 9999
	}
	var want T
	errWant := json.Unmarshal(text, &want)
	jsonNorm.normalize(&want)
	if errGot == nil && errWant != nil && arrayForStruct(errWant) {
		return // msgpack v5's as_array form, which JSON has not
	}
	if (errGot == nil) != (errWant == nil) {
		t.Fatalf("%s into %T:\n codec: %v\n json:  %v", text, got, errGot, errWant)
	}
	if errGot == nil && !sameDecoded(reflect.ValueOf(got), reflect.ValueOf(want)) {
		t.Fatalf("%s into %T:\n codec %+v\n json  %+v", text, got, got, want)
	}
}

// jsonSafe reports whether JSON carries x as msgpack did: no bytes (JSON
// has them as base64 text), only valid UTF-8, and no map keys that
// encoding/json matches case-insensitively to another field.
func jsonSafe(x any) bool {
	switch x := x.(type) {
	case []byte:
		return false
	case string:
		return utf8.ValidString(x)
	case []any:
		for _, e := range x {
			if !jsonSafe(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) || foldsToField(k) || !jsonSafe(e) {
				return false
			}
		}
	}
	return true
}

// exactNumbers writes whole floats with all their digits: JSON's
// shortest text of float64(1<<63) is 9223372036854776000, another integer,
// and its text of -0.0 is "-0", which encoding/json refuses for unsigned
// types although the number is 0.
func exactNumbers(x any) any {
	switch x := x.(type) {
	case float64:
		if x == 0 {
			return json.Number("0") // -0.0 is the number 0, which JSON's "-0" is not for an unsigned type
		}
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return json.Number(new(big.Float).SetFloat64(x).Text('f', 0))
		}
	case []any:
		for i := range x {
			x[i] = exactNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = exactNumbers(x[k])
		}
	}
	return x
}

// foldsToField reports whether encoding/json would take key as a field
// name that differs from it in case.
func foldsToField(key string) bool {
	for _, n := range fzNames {
		if key != n && strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}

func arrayForStruct(err error) bool {
	var ute *json.UnmarshalTypeError
	return errors.As(err, &ute) && ute.Value == "array" && ute.Type.Kind() == reflect.Struct
}

// sameDecoded compares two decoded values: float32s to within the one
// rounding JSON's decimal text adds, times by Equal.
func sameDecoded(a, b reflect.Value) bool {
	if a.Type() == timeType {
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Float32:
		x, y := float32(a.Float()), float32(b.Float())
		return x == y || math.Nextafter32(x, y) == y
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameDecoded(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameDecoded(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for it := a.MapRange(); it.Next(); {
			e := b.MapIndex(it.Key())
			if !e.IsValid() || !sameDecoded(it.Value(), e) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range a.NumField() {
			if !sameDecoded(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return a.Equal(b)
}
