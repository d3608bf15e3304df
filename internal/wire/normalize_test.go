package wire_test

import (
	"encoding/hex"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/internal/wire"
)

// TestGenericFromPython: what Python's msgpack sends decodes into an any as
// the codec's doc promises: bytes stay []byte at any depth, integers are
// int64 (uint64 above math.MaxInt64) whatever width the wire used.
func TestGenericFromPython(t *testing.T) {
	cases := []struct {
		name string
		hex  string // msgpack.packb(...) in Python
		want any
	}{
		{"bytes in a dict", "81a162c4020001", map[string]any{"b": []byte{0, 1}}},                  // {'b': b'\x00\x01'}
		{"bytes in a list", "92c40100a178", []any{[]byte{0}, "x"}},                                // [b'\x00', 'x']
		{"bytes alone", "c403616263", []byte("abc")},                                              // b'abc'
		{"uint8 200", "ccc8", int64(200)},                                                         // 200
		{"int8 -100", "d09c", int64(-100)},                                                        // -100
		{"uint16", "cd1234", int64(0x1234)},                                                       // 4660
		{"uint64 max", "cfffffffffffffffff", uint64(math.MaxUint64)},                              // 2**64-1
		{"int64 min", "d38000000000000000", int64(math.MinInt64)},                                 // -2**63
		{"float32", "ca3fc00000", float64(1.5)},                                                   // struct.pack float
		{"nested", "81a17892cc80c0", map[string]any{"x": []any{int64(128), nil}}},                 // {'x': [128, None]}
		{"timestamp", "d6ff00000001", time.Unix(1, 0).UTC()},                                      // Timestamp(1)
		{"deep bytes", "81a16181a162c40101", map[string]any{"a": map[string]any{"b": []byte{1}}}}, // {'a': {'b': b'\x01'}}
		{"str stays str", "81a162a20001", map[string]any{"b": "\x00\x01"}},                        // {'b': '\x00\x01'}
		{"list of ints", "93010203", []any{int64(1), int64(2), int64(3)}},                         // [1, 2, 3]
		{"map of floats", "81a166cb3ff8000000000000", map[string]any{"f": 1.5}},                   // {'f': 1.5}
		{"empty", "80", map[string]any{}},                                                         // {}
		{"nil", "c0", nil},                                                                        // None
		{"bool", "c3", true},                                                                      // True
		{"uint32", "ce80000000", int64(1 << 31)},                                                  // 2**31
		{"uint64 in range", "cf7fffffffffffffff", int64(math.MaxInt64)},                           // 2**63-1
		{"uint64 above int64", "cf8000000000000000", uint64(1 << 63)},                             // 2**63
		{"time in a list", "91d6ff00000002", []any{time.Unix(2, 0).UTC()}},                        // [Timestamp(2)]
		{"bin16 in a map", "81a162c5000100", map[string]any{"b": []byte{0}}},                      // a bin16 of one byte
		{"negative fixint", "ff", int64(-1)},                                                      // -1
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := hex.DecodeString(c.hex)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			if err := wire.Msgpack.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v (%T), want %#v (%T)", got, got, c.want, c.want)
			}
		})
	}
}

// TestTimesInUTC: a time.Time comes back in UTC, Equal to the one sent,
// through both codecs, in struct fields, pointers, slices, maps and anys.
func TestTimesInUTC(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	sent := time.Date(2026, 12, 1, 20, 30, 0, 123456789, paris)
	type inner struct {
		At time.Time `json:"at"`
	}
	type value struct {
		When  time.Time            `json:"when"`
		Ptr   *time.Time           `json:"ptr"`
		List  []time.Time          `json:"list"`
		ByKey map[string]time.Time `json:"by_key"`
		Inner []inner              `json:"inner"`
	}
	in := value{When: sent, Ptr: &sent, List: []time.Time{sent}, ByKey: map[string]time.Time{"k": sent}, Inner: []inner{{sent}}}
	u := sent.UTC()
	want := value{When: u, Ptr: &u, List: []time.Time{u}, ByKey: map[string]time.Time{"k": u}, Inner: []inner{{u}}}
	for _, c := range []wire.Codec{wire.Msgpack, wire.JSON} {
		t.Run(c.Name(), func(t *testing.T) {
			is := is.New(t)
			data, err := c.Marshal(in)
			is.NoErr(err)
			var got value
			is.NoErr(c.Unmarshal(data, &got))
			is.True(got.When.Equal(sent))
			is.True(reflect.DeepEqual(got, want)) // every time in UTC
		})
	}
	t.Run("msgpack any", func(t *testing.T) {
		is := is.New(t)
		data, err := wire.Msgpack.Marshal(map[string]any{"t": sent})
		is.NoErr(err)
		var got any
		is.NoErr(wire.Msgpack.Unmarshal(data, &got))
		is.Equal(got, map[string]any{"t": u})
	})
}

// TestGenericInStructs: interfaces inside typed values are normalised too,
// and a non-empty interface is left as it is.
func TestGenericInStructs(t *testing.T) {
	is := is.New(t)
	type value struct {
		Any  any            `json:"any"`
		Map  map[string]any `json:"map"`
		List []any          `json:"list"`
	}
	in := value{Any: []byte{1}, Map: map[string]any{"n": uint8(7), "b": []byte{2}}, List: []any{int16(-3), []byte{3}}}
	data, err := wire.Msgpack.Marshal(in)
	is.NoErr(err)
	var got value
	is.NoErr(wire.Msgpack.Unmarshal(data, &got))
	is.Equal(got, value{Any: []byte{1}, Map: map[string]any{"n": int64(7), "b": []byte{2}}, List: []any{int64(-3), []byte{3}}})
}
