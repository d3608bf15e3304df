package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/codec"
	"github.com/rabibridge/rabibridge/once"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// The types Go services send, for Types.

type (
	// Level is a named int that marshals itself as text.
	Level int
	// Color is a named string.
	Color string
	// Count is a named int.
	Count int

	lineItem struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	}
	base struct {
		ID      string    `json:"id"`
		Created time.Time `json:"created"`
	}
	// withBase embeds a struct, whose fields travel inlined.
	withBase struct {
		base
		Name string `json:"name"`
	}
	// optional has pointer fields that may be nil.
	optional struct {
		Note  *string   `json:"note"`
		Count *int      `json:"count,omitempty"`
		Item  *lineItem `json:"item"`
	}
	// nilable has every field a nil can hide in.
	nilable struct {
		Items []lineItem       `json:"items"`
		Tags  map[string]int   `json:"tags"`
		Blob  []byte           `json:"blob"`
		Any   any              `json:"any"`
		Ptr   *lineItem        `json:"ptr"`
		Deep  [][]int          `json:"deep"`
		Attrs map[string]any   `json:"attrs"`
		Raw   json.RawMessage  `json:"raw"`
		ByKey map[string]*base `json:"by_key"`
	}
	// page is a generic type, instantiated below.
	page[T any] struct {
		Items []T     `json:"items"`
		Next  *string `json:"next"`
	}
	// inPage holds an instantiated generic type in a field.
	inPage struct {
		Page page[lineItem] `json:"page"`
	}
	// numbers holds the edges of Go's number types.
	numbers struct {
		U64 uint64  `json:"u64"`
		I64 int64   `json:"i64"`
		F32 float32 `json:"f32"`
		F64 float64 `json:"f64"`
		I8  int8    `json:"i8"`
		U8  uint8   `json:"u8"`
	}
	// mixed holds named types, a text marshaler, times, durations and
	// byte arrays.
	mixed struct {
		Level  Level         `json:"level"`
		Color  Color         `json:"color"`
		Count  Count         `json:"count"`
		When   time.Time     `json:"when"`
		Wait   time.Duration `json:"wait"`
		Digest [16]byte      `json:"digest"`
	}
)

var levelNames = []string{"low", "high"}

// MarshalText writes a Level by its name.
func (l Level) MarshalText() ([]byte, error) {
	if l < 0 || int(l) >= len(levelNames) {
		return nil, fmt.Errorf("level %d has no name", int(l))
	}
	return []byte(levelNames[l]), nil
}

// UnmarshalText reads a Level by its name.
func (l *Level) UnmarshalText(b []byte) error {
	for i, n := range levelNames {
		if n == string(b) {
			*l = Level(i)
			return nil
		}
	}
	return fmt.Errorf("no level %q", b)
}

// oneKey is a run-once store that keeps every call of a function under one
// key, so that every call after the first gets the first's result.
type oneKey struct{ once.Store }

func (s oneKey) Swap(ctx context.Context, _ string, old, value []byte, ttl time.Duration) ([]byte, error) {
	return s.Store.Swap(ctx, "the key", old, value, ttl)
}

// typeRow is one row of the matrix: a value sent as a call's request and
// returned as its response, and what comes back, per codec, where that is
// not the value itself (times arrive in UTC; JSON has no byte strings or
// integer types in an any).
type typeRow struct {
	name     string
	register func(reg *registry.Registry, name string, opts registry.Options) error
	call     func(ctx context.Context, c *caller.Caller, name string, cd codec.Codec) error
}

func row[T any](name string, v T, want func(cd codec.Codec) T) typeRow {
	return typeRow{
		name: name,
		register: func(reg *registry.Registry, fn string, opts registry.Options) error {
			return registry.RegisterIn(reg, fn, func(_ context.Context, r T) (T, error) { return r, nil }, opts)
		},
		call: func(ctx context.Context, c *caller.Caller, fn string, cd codec.Codec) error {
			got, err := caller.Call[T, T](ctx, c, fn, v)
			if err != nil {
				return err
			}
			w := v
			if want != nil {
				w = want(cd)
			}
			if !reflect.DeepEqual(got, w) {
				return fmt.Errorf("got %#v, want %#v", got, w)
			}
			return nil
		},
	}
}

func typeRows() []typeRow {
	paris := time.FixedZone("CET", 3600)
	local := time.Date(2026, 12, 1, 21, 30, 15, 123456789, paris)
	utc := local.UTC()
	inUTC := func(codec.Codec) time.Time { return utc }
	note, count, next := "fragile", 7, "page-2"
	raw := json.RawMessage(`{"a":[1,2]}`)
	digest := [16]byte{0: 1, 15: 0xff}
	empty := nilable{Items: []lineItem{}, Tags: map[string]int{}, Blob: []byte{}, Deep: [][]int{{}}, Attrs: map[string]any{}, ByKey: map[string]*base{}}
	// JSON writes a nil json.RawMessage as null, and null reads back as
	// the text null.
	rawNull := func(v nilable) func(codec.Codec) nilable {
		return func(cd codec.Codec) nilable {
			w := v // not v itself: the next call wants it unchanged
			if cd == codec.JSON {
				w.Raw = json.RawMessage("null")
			}
			return w
		}
	}
	return []typeRow{
		row("time UTC", utc, nil),
		row("time in a zone", local, inUTC),
		row("time zero", time.Time{}, nil),
		row("duration", 90*time.Second, nil),
		row("bytes", []byte{0, 1, 2, 0xff}, nil),
		row("bytes empty", []byte{}, nil),
		row("byte array", digest, nil),
		row("raw JSON", raw, nil),
		row("map of ints", map[string]int{"a": 1, "b": -2}, nil),
		row("map of anys", map[string]any{"n": int64(1), "s": "x", "b": []byte{1}, "l": []any{int64(2), nil}, "m": map[string]any{"t": true}},
			func(cd codec.Codec) map[string]any {
				if cd == codec.JSON { // numbers as json.Number, bytes as base64 text
					return map[string]any{"n": json.Number("1"), "s": "x", "b": "AQ==", "l": []any{json.Number("2"), nil}, "m": map[string]any{"t": true}}
				}
				return map[string]any{"n": int64(1), "s": "x", "b": []byte{1}, "l": []any{int64(2), nil}, "m": map[string]any{"t": true}}
			}),
		row("nil slice", []int(nil), nil),
		row("empty slice", []int{}, nil),
		row("nil map", map[string]int(nil), nil),
		row("nil pointer", (*lineItem)(nil), nil),
		row("pointer", &lineItem{"ab", 2}, nil),
		row("nil fields", nilable{}, rawNull(nilable{})),
		row("empty fields", empty, rawNull(empty)),
		row("full fields", nilable{Items: []lineItem{{"a", 1}, {"b", 2}}, Tags: map[string]int{"t": 1}, Blob: []byte("blob"), Any: "x",
			Ptr: &lineItem{"c", 3}, Deep: [][]int{{1}, {2, 3}}, Attrs: map[string]any{"k": "v"}, Raw: raw, ByKey: map[string]*base{"a": {ID: "a", Created: utc}, "nil": nil}}, nil),
		row("optional nil", optional{}, nil),
		row("optional set", optional{Note: &note, Count: &count, Item: &lineItem{"d", 4}}, nil),
		row("embedded", withBase{base: base{ID: "7", Created: local}, Name: "n"}, func(codec.Codec) withBase {
			return withBase{base: base{ID: "7", Created: utc}, Name: "n"}
		}),
		row("nested slices", []lineItem{{"a", 1}, {"b", 2}}, nil),
		row("generic", page[lineItem]{Items: []lineItem{{"e", 5}}, Next: &next}, nil),
		row("generic in a field", inPage{Page: page[lineItem]{Items: []lineItem{{"f", 6}}}}, nil),
		row("uint64 max", uint64(math.MaxUint64), nil),
		row("int64 min", int64(math.MinInt64), nil),
		row("number edges", numbers{U64: math.MaxUint64, I64: math.MinInt64, F32: 1.1, F64: math.MaxFloat64, I8: math.MinInt8, U8: math.MaxUint8}, nil),
		row("float32", float32(3.25), nil),
		row("named types", mixed{Level: 1, Color: "red", Count: 3, When: local, Wait: time.Millisecond, Digest: digest},
			func(codec.Codec) mixed {
				return mixed{Level: 1, Color: "red", Count: 3, When: utc, Wait: time.Millisecond, Digest: digest}
			}),
		row("named string", Color("blue"), nil),
		row("text marshaler", Level(1), nil),
	}
}

// Types sends every row of the type matrix as the request of a function
// that returns it, through both codecs, with and without validation: the
// value comes back as the matrix says, and validation refuses none.
func Types(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	rows := typeRows()
	fn := func(i int, validate bool) string { return fmt.Sprintf("types%d_%v", i, validate) }
	for i, r := range rows {
		for _, validate := range []bool{false, true} {
			if err := r.register(e.reg, e.name(fn(i, validate)), registry.Options{Validate: validate}); err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
		}
		// Run once, every call under one key: the first call runs, the
		// others get its remembered result, through either codec.
		if err := r.register(e.reg, e.name(fmt.Sprintf("types%d_once", i)), registry.Options{Once: oneKey{once.NewMemory()}}); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
	}
	e.serve(worker.Config{})
	callers := map[codec.Codec]*caller.Caller{codec.Msgpack: e.c}
	jc, err := caller.New(e.conn, caller.Config{Codec: codec.JSON})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jc.Close() })
	callers[codec.JSON] = jc
	ctx := timeout(t, 60*time.Second)
	for i, r := range rows {
		t.Run(strings.ReplaceAll(r.name, " ", "_"), func(t *testing.T) {
			for _, cd := range []codec.Codec{codec.Msgpack, codec.JSON} {
				for _, validate := range []bool{false, true} {
					if err := r.call(ctx, callers[cd], e.name(fn(i, validate)), cd); err != nil {
						t.Errorf("%s, validate %v: %v", cd.Name(), validate, err)
					}
				}
			}
			for n, cd := range []codec.Codec{codec.Msgpack, codec.Msgpack, codec.JSON, codec.JSON} {
				if err := r.call(ctx, callers[cd], e.name(fmt.Sprintf("types%d_once", i)), cd); err != nil {
					t.Errorf("%s, run once, call %d: %v", cd.Name(), n+1, err)
				}
			}
		})
	}
}
