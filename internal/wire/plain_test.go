package wire

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// White-box: the plain encoder and decoder are checked against msgpack v5,
// the path they stand in for (appendMsgpack, unmarshalMsgpack).

type plainInner struct {
	N int8   `json:"n"`
	S string `msgpack:"s"`
}

type plainAll struct {
	B     bool
	I     int `json:"i"`
	I8    int8
	I16   int16
	I32   int32
	I64   int64 `msgpack:"i64" json:"i64"`
	U     uint
	U8    uint8
	U16   uint16
	U32   uint32
	U64   uint64
	F32   float32
	F64   float64
	S     string  `json:"s,omitempty"`
	OI    int     `msgpack:",omitempty"`
	OF    float64 `json:"of,omitempty"`
	OB    bool    `json:"ob,omitempty"`
	Skip  int     `json:"-"`
	In    plainInner
	hid   int
	Named celsius
}

type celsius float64 // named, without methods

type wideStruct struct { // 17 fields: a map16 head
	A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q int
}

func plainValues() []any {
	var out []any
	for _, n := range []int64{0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -31, -32, -33, -127, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64} {
		out = append(out, n, int(n), int8(n), int16(n), int32(n), uint64(n), uint32(n), uint16(n), uint8(n), uint(n))
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1.5, -2.25, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.NaN()} {
		out = append(out, f, float32(f), celsius(f))
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		out = append(out, strings.Repeat("x", n))
	}
	out = append(out, true, false, plainInner{}, plainInner{N: -5, S: "é"}, wideStruct{A: 1, Q: 17},
		plainAll{}, plainAll{B: true, I: -1, I8: -128, I16: 300, I32: -70000, I64: math.MinInt64, U: 1, U8: 255, U16: 256,
			U32: 70000, U64: math.MaxUint64, F32: 1.25, F64: -0.5, S: "s", OI: 7, OF: math.Copysign(0, -1), OB: true,
			Skip: 9, In: plainInner{N: 3, S: strings.Repeat("y", 40)}, hid: 4, Named: 36.6})
	return out
}

func TestPlainEncodesAsMsgpack(t *testing.T) {
	for _, v := range plainValues() {
		t.Run(fmt.Sprintf("%T(%.40v)", v, v), func(t *testing.T) {
			is := is.New(t)
			is.True(planOf(reflect.TypeOf(v)) != nil) // else this test checks nothing
			want, err := appendMsgpack([]byte{0xff}, v)
			is.NoErr(err)
			got, err := Msgpack.(msgpackCodec).AppendValue([]byte{0xff}, v)
			is.NoErr(err)
			is.Equal(got, want)
		})
	}
}

type withMethod struct{ A int }

func (withMethod) String() string { return "" }

type withPtrMethod struct{ A int }

func (*withPtrMethod) MarshalMsgpack() ([]byte, error) { return []byte{0xc0}, nil }

type embeds struct {
	plainInner
	Z int
}

type asArray struct {
	_msgpack struct{} `msgpack:",as_array"` //lint:ignore U1000 msgpack v5's struct-wide option, read by its tag
	A, B     int
}

type twice struct {
	A int `msgpack:"x"`
	B int `msgpack:"x"`
}

type aliased struct {
	A int `msgpack:"a,alias:b"`
}

type quoted struct {
	A int `msgpack:"'a'"`
}

type omitStruct struct {
	In plainInner `json:",omitempty"`
}

type ptrField struct{ P *int }
type sliceField struct{ S []int }
type anyField struct{ V any }
type timeField struct{ T time.Time }
type methodField struct{ M withMethod }

func TestNotPlain(t *testing.T) {
	n := 3
	for _, v := range []any{
		withMethod{A: 1}, withPtrMethod{A: 1}, embeds{Z: 1}, asArray{A: 1, B: 2}, twice{A: 1, B: 2}, aliased{A: 1},
		quoted{A: 1}, omitStruct{}, ptrField{P: &n}, sliceField{S: []int{1}}, anyField{V: 1}, timeField{},
		methodField{}, time.Second, []int{1}, map[string]int{"a": 1}, &n, nil,
	} {
		t.Run(fmt.Sprintf("%T", v), func(t *testing.T) {
			is := is.New(t)
			is.True(planOf(reflect.TypeOf(v)) == nil)
			want, errWant := appendMsgpack(nil, v)
			got, err := Msgpack.Marshal(v)
			is.Equal(err == nil, errWant == nil)
			is.Equal(got, want)
		})
	}
}

// decodeBodies are bodies at the decoder's edges, for the fuzz targets'
// seeds: what msgpack writes, what other encoders may (wider integers,
// other string forms, unknown keys), and what does not fit.
func decodeBodies() [][]byte {
	var bodies [][]byte
	for _, v := range plainValues() {
		b, err := appendMsgpack(nil, v)
		if err != nil {
			panic(err) // plainValues are all plain: msgpack encodes them
		}
		bodies = append(bodies, b)
	}
	m := func(kv ...[]byte) []byte { // a map of the given keys and values
		b := appendHead(nil, mapForm, len(kv)/2)
		for _, x := range kv {
			b = append(b, x...)
		}
		return b
	}
	s := func(x string) []byte { return appendString(nil, x) }
	return append(bodies, [][]byte{
		m(s("n"), []byte{0xd3, 0, 0, 0, 0, 0, 0, 0, 5}),                   // int64 form of 5
		m(s("n"), []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 5}),                   // uint64 form
		m(s("n"), []byte{0xcd, 0x01, 0x2c}),                               // 300 into an int8
		m(s("n"), []byte{0xd0, 0x80}),                                     // -128
		m(s("n"), []byte{0xcb, 0, 0, 0, 0, 0, 0, 0, 0}),                   // a float into an int
		m(s("n"), []byte{0xc0}),                                           // nil into an int
		m(s("n"), []byte{0xc3}),                                           // a bool into an int
		m(s("s"), []byte{0xd9, 2, 'h', 'i'}),                              // str8 of 2
		m(s("s"), []byte{0xda, 0, 2, 'h', 'i'}),                           // str16 of 2
		m(s("s"), []byte{0xc4, 2, 'h', 'i'}),                              // bin into a string
		m(s("s"), []byte{0xc0}),                                           // nil into a string
		m(s("x"), []byte{0x92, 0x81, 0xa1, 'a', 0x90}, s("n"), []byte{7}), // an unknown key first
		m([]byte{0xc4, 1, 'n'}, []byte{7}),                                // a bin key
		m([]byte{0xd9, 1, 'n'}, []byte{7}),                                // a str8 key
		m(s("n"), []byte{1}, s("n"), []byte{2}),                           // a key twice
		{0xde, 0, 1, 0xa1, 'n', 0x09},                                     // map16 head
		{0x92, 0x01, 0xa1, 'a'},                                           // a struct as an array
		{0x90}, {0xc0}, {0x80}, {},                                        // empty array, nil, empty map, nothing
		{0x81, 0xa1, 'n'},              // truncated
		{0x81, 0xa1, 'n', 0x01, 0x01},  // a byte too many
		m(s("U8"), []byte{0xff}),       // -1 into a uint8
		m(s("U8"), []byte{0xd0, 0x05}), // int8 form of 5 into a uint8
		m(s("U64"), []byte{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), // int64 -1 into a uint64
		m(s("i64"), []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), // MaxUint64 into an int64
		m(s("F64"), []byte{0xca, 0x3f, 0xc0, 0, 0}),                               // float32 into a float64
		m(s("F32"), []byte{0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}),                   // float64 into a float32
		m(s("F64"), []byte{0x03}),                                                 // an int into a float
		m(s("B"), []byte{0x01}),                                                   // an int into a bool
		m(s("In"), m(s("n"), []byte{0x04})),                                       // nested
		m(s("In"), []byte{0x92, 0x04, 0xa1, 'z'}),                                 // nested as an array
		m(s("In"), []byte{0xc0}),                                                  // nested nil
		m(s("Skip"), []byte{5}, s("hid"), []byte{6}),                              // fields msgpack does not read
	}...)
}

func TestPlainRoundTrip(t *testing.T) {
	// What the plain encoder writes comes back as msgpack v5 reads it.
	for _, v := range plainValues() {
		roundTrip(t, v)
	}
}

func roundTrip(t *testing.T, v any) {
	t.Helper()
	b, err := Msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	// msgpack v5 is exact for what fits, as all that the encoder writes
	// does; it leaves out what does not travel (unexported, "-", empty
	// omitempty fields).
	got, want := reflect.New(reflect.TypeOf(v)), reflect.New(reflect.TypeOf(v))
	if err := unmarshalMsgpack(b, want.Interface()); err != nil {
		t.Fatal(err)
	}
	if err := Msgpack.Unmarshal(b, got.Interface()); err != nil || !equalNaN(got.Elem().Interface(), want.Elem().Interface()) {
		t.Errorf("%T from % x: %v\n got %+v\nwant %+v", v, b, err, got.Elem().Interface(), want.Elem().Interface())
	}
}

// equalNaN is reflect.DeepEqual with NaN equal to NaN.
func equalNaN(a, b any) bool {
	return reflect.DeepEqual(a, b) || fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

func FuzzPlainEncode(f *testing.F) {
	f.Add(true, int64(-33), uint64(256), 1.5, "s", int8(-1))
	f.Fuzz(func(t *testing.T, b bool, i int64, u uint64, fl float64, s string, i8 int8) {
		v := plainAll{B: b, I: int(i), I8: i8, I16: int16(i), I32: int32(i), I64: i, U: uint(u), U8: uint8(u), U16: uint16(u),
			U32: uint32(u), U64: u, F32: float32(fl), F64: fl, S: s, OI: int(i8), OF: fl, OB: b, In: plainInner{N: i8, S: s}, Named: celsius(fl)}
		want, err := appendMsgpack(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := Msgpack.Marshal(v)
		if !bytes.Equal(got, want) {
			t.Fatalf("%+v:\n got % x\nwant % x", v, got, want)
		}
		roundTrip(t, v)
	})
}

// The codec's own encoder and decoder against msgpack v5's, on the same
// values, in one run: what keeps them (docs/benchmarks.md).
type benchOrder struct {
	ID    string    `json:"id"`
	Qty   int       `json:"qty"`
	Price float64   `json:"price"`
	Items []int     `json:"items"`
	At    time.Time `json:"at"`
}

func benchValues() map[string]any {
	return map[string]any{
		"plain":  plainInner{N: 3, S: "abc"},
		"nested": benchOrder{ID: "o-1", Qty: 2, Price: 9.5, Items: []int{1, 2, 3}, At: time.Unix(1700000000, 0).UTC()},
	}
}

func BenchmarkDecodeTyped(b *testing.B) {
	for name, v := range benchValues() {
		body, _ := appendMsgpack(nil, v)
		t := reflect.TypeOf(v)
		b.Run(name+"/codec", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Msgpack.Unmarshal(body, reflect.New(t).Interface()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/msgpackv5", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := unmarshalMsgpack(body, reflect.New(t).Interface()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePlain(b *testing.B) {
	v := plainInner{N: 3, S: "abc"}
	buf := make([]byte, 0, 64)
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = Msgpack.AppendValue(buf[:0], v)
		}
	})
	b.Run("msgpackv5", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = appendMsgpack(buf[:0], v)
		}
	})
}
