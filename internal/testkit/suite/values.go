package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/codec"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// valueCase is a value a peer sends in the field v of a request, as a
// generic value (what Invoke, the CLI and Python send), and what the
// handler of a request struct{ V T } must get: the value, or a refusal
// whose message names where it went wrong.
type valueCase struct {
	name     string
	register func(reg *registry.Registry, name string, opts registry.Options, runs *atomic.Int64) error
	sent     any
	want     any    // what the handler returns: its V, as Invoke gives it back
	refused  string // the path and reason a refusal names; empty when taken
}

func valueOf[T any](name string, sent any, want T) valueCase {
	return valueCase{name: name, register: echoV[T], sent: sent, want: want}
}

func refusedAs[T any](name string, sent any, refused string) valueCase {
	return valueCase{name: name, register: echoV[T], sent: sent, refused: refused}
}

// echoV registers a function that returns its request's V.
func echoV[T any](reg *registry.Registry, name string, opts registry.Options, runs *atomic.Int64) error {
	type req struct {
		V T `json:"v"`
	}
	return registry.RegisterIn(reg, name, func(_ context.Context, r req) (T, error) {
		runs.Add(1)
		return r.V, nil
	}, opts)
}

type qtyItem struct {
	Qty int `json:"qty"`
}

type qtyOrder struct {
	Items []qtyItem `json:"items"`
}

func valueCases() []valueCase {
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	return []valueCase{
		refusedAs[int64]("2^63 into int64", uint64(1<<63), "/v: cannot decode integer 9223372036854775808 into int64: out of range"),
		refusedAs[uint64]("-1 into uint64", -1, "/v: cannot decode integer -1 into uint64: out of range"),
		refusedAs[int8]("300 into int8", 300, "/v: cannot decode integer 300 into int8: out of range"),
		refusedAs[int]("1.5 into int", 1.5, "/v: cannot decode float 1.5 into int: not an integer"),
		refusedAs[time.Time]("text without a zone into a time", "2024-01-02T03:04:05", "/v: cannot decode string into time.Time"),
		refusedAs[qtyOrder]("a string into a nested int", map[string]any{"items": []any{map[string]any{"qty": 1}, map[string]any{"qty": "x"}}},
			"/v/items/1/qty"),
		valueOf[int64]("int64 max", int64(math.MaxInt64), int64(math.MaxInt64)),
		valueOf[int64]("int64 min", int64(math.MinInt64), int64(math.MinInt64)),
		valueOf[uint64]("uint64 max", uint64(math.MaxUint64), uint64(math.MaxUint64)),
		valueOf[float64]("uint64 max into float64", uint64(math.MaxUint64), float64(math.MaxUint64)),
		valueOf[int]("2.0 into int", 2.0, 2),
		valueOf[time.Time]("RFC 3339 text into a time", "2024-01-02T05:04:05+02:00", at),
		valueOf[time.Time]("a timestamp into a time", at, at),
		valueOf[time.Time]("nil into a time", nil, time.Time{}),
		valueOf[*time.Time]("nil into a time pointer", nil, (*time.Time)(nil)),
	}
}

// Values sends the values peers send, in range and past it, as text and
// as timestamps, through both codecs, with and without validation: each
// reaches its handler exactly, or is refused with invalid_argument naming
// the field, and the handler does not run.
func Values(t *testing.T, dial Dialer) {
	e := newEnv(t, dial)
	cases := valueCases()
	runs := make([]atomic.Int64, len(cases))
	fn := func(i int, validate bool) string { return e.name(fmt.Sprintf("values%d_%v", i, validate)) }
	for i, c := range cases {
		for _, validate := range []bool{false, true} {
			if err := c.register(e.reg, fn(i, validate), registry.Options{Validate: validate}, &runs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	register(e, "big", func(context.Context, struct{}) (uint64, error) { return 1 << 63, nil }, registry.Options{})
	e.serve(worker.Config{})
	jc, err := caller.New(e.conn, caller.Config{Codec: codec.JSON})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jc.Close() })
	ctx := timeout(t, 60*time.Second)
	for i, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			for _, cl := range []*caller.Caller{e.c, jc} {
				for _, validate := range []bool{false, true} {
					before := runs[i].Load()
					got, err := cl.Invoke(ctx, fn(i, validate), nil, map[string]any{"v": c.sent})
					where := fmt.Sprintf("codec %v, validate %v", cl == jc, validate)
					if c.refused != "" {
						checkRefused(t, where, err, c.refused, !validate)
						if n := runs[i].Load() - before; n != 0 {
							t.Errorf("%s: the handler ran %d times on a refused request", where, n)
						}
						continue
					}
					if err != nil {
						t.Errorf("%s: %v", where, err)
						continue
					}
					checkValue(t, where, got, c.want, cl == jc)
				}
			}
		})
	}
	// A result that does not fit the caller's type is refused there too.
	for _, cl := range []*caller.Caller{e.c, jc} {
		_, err := caller.Call[struct{}, int64](ctx, cl, e.name("big"), struct{}{})
		if err == nil || !strings.Contains(err.Error(), "cannot decode integer 9223372036854775808 into int64: out of range") {
			t.Errorf("a uint64 result into an int64: %v", err)
		}
	}
}

// checkRefused checks that err is an invalid_argument that names where;
// whole says the message must carry the decoder's reason, not only its
// path (validation, when on, may name the field first).
func checkRefused(t *testing.T, where string, err error, want string, whole bool) {
	t.Helper()
	var re *rabibridge.RemoteError
	if !errors.As(err, &re) || re.Code != rabibridge.CodeInvalidArgument {
		t.Errorf("%s: want invalid_argument, got %v", where, err)
		return
	}
	path, _, _ := strings.Cut(want, ":")
	if !whole {
		want = path
	}
	if !strings.Contains(re.Message, want) {
		t.Errorf("%s: %q does not say %q", where, re.Message, want)
	}
}

// checkValue compares what Invoke gave back with want, through the codec's
// generic forms: msgpack's int64/uint64 and timestamps, JSON's text.
func checkValue(t *testing.T, where string, got, want any, isJSON bool) {
	t.Helper()
	if w, ok := want.(*time.Time); ok && w == nil {
		want = nil
	}
	if isJSON {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("%s: got %s, want %s", where, g, w)
		}
		return
	}
	if !reflect.DeepEqual(normalNumber(got), normalNumber(want)) {
		t.Errorf("%s: got %#v, want %#v", where, got, want)
	}
}

// normalNumber gives a number the type msgpack's generic decoding gives it.
func normalNumber(v any) any {
	switch v := v.(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v)
		}
	case time.Time:
		return v.UTC()
	}
	return v
}
