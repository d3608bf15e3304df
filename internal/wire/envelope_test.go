package wire_test

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/internal/wire"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type addReq struct {
	A int `msgpack:"a" json:"a"`
	B int `msgpack:"b" json:"b"`
}

// The sample bodies of WIRE.md, byte for byte.
func TestWireSamples(t *testing.T) {
	t.Run("encode", func(t *testing.T) {
		is := is.New(t)
		b, err := wire.AppendRequestArg(wire.Msgpack, nil, 5)
		is.NoErr(err)
		is.Equal(b, unhex(t, "92 91 05 80")) // echo(5)
		b, err = wire.AppendRequest(wire.Msgpack, nil, nil, addReq{A: 1, B: 2})
		is.NoErr(err)
		is.Equal(b, unhex(t, "92 90 82 a1 61 01 a1 62 02")) // add(a=1, b=2)
		b, err = wire.AppendRequest(wire.Msgpack, nil, []any{1, 2}, nil)
		is.NoErr(err)
		is.Equal(b, unhex(t, "92 92 01 02 80")) // add(1, 2)
		b, err = wire.AppendReply(wire.Msgpack, nil, 3)
		is.NoErr(err)
		is.Equal(b, unhex(t, "92 00 03")) // reply 3
		b = wire.AppendErrorReply(wire.Msgpack, nil, strings.Repeat("x", 40))
		is.Equal(b[:3], unhex(t, "92 01 d9")) // str8 message
	})

	bind, err := wire.NewBinder(reflect.TypeFor[addReq]())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, body string }{
		{"kwargs", "92 90 82 a1 61 01 a1 62 02"},
		{"positional", "92 92 01 02 80"},
		{"mixed", "92 91 01 81 a1 62 02"},
	} {
		t.Run("decode "+tc.name, func(t *testing.T) {
			is := is.New(t)
			req, err := wire.DecodeRequest(wire.Msgpack, unhex(t, tc.body))
			is.NoErr(err)
			var got addReq
			is.NoErr(bind.Bind(wire.Msgpack, req, &got))
			is.Equal(got, addReq{A: 1, B: 2})
		})
	}

	t.Run("decode one positional into a non-struct", func(t *testing.T) {
		is := is.New(t)
		b, err := wire.NewBinder(reflect.TypeFor[int]())
		is.NoErr(err)
		req, err := wire.DecodeRequest(wire.Msgpack, unhex(t, "92 91 05 80"))
		is.NoErr(err)
		var n int
		is.NoErr(b.Bind(wire.Msgpack, req, &n))
		is.Equal(n, 5)
	})

	t.Run("decode reply", func(t *testing.T) {
		is := is.New(t)
		ok, res, _, err := wire.DecodeReply(wire.Msgpack, unhex(t, "92 00 03"))
		is.NoErr(err)
		is.True(ok)
		var n int
		is.NoErr(wire.Msgpack.Unmarshal(res, &n))
		is.Equal(n, 3)
		body := wire.AppendErrorReply(wire.Msgpack, nil, "Traceback ...\nZeroDivisionError: division by zero\n")
		ok, _, msg, err := wire.DecodeReply(wire.Msgpack, body)
		is.NoErr(err)
		is.True(!ok)
		is.True(strings.Contains(msg, "ZeroDivisionError"))
	})
}

func TestBindErrors(t *testing.T) {
	bind, _ := wire.NewBinder(reflect.TypeFor[addReq]())
	for _, tc := range []struct{ name, body string }{
		{"too many positional", "92 93 01 02 03 80"},
		{"given twice", "92 91 01 81 a1 61 02"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			req, err := wire.DecodeRequest(wire.Msgpack, unhex(t, tc.body))
			is.NoErr(err)
			var got addReq
			err = bind.Bind(wire.Msgpack, req, &got)
			is.True(errors.Is(err, wire.ErrMalformed))
		})
	}
}

func TestFieldNamesConflict(t *testing.T) {
	is := is.New(t)
	type bad struct {
		A int `msgpack:"a" json:"alpha"`
	}
	_, err := wire.FieldNames(reflect.TypeFor[bad]())
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "A"))
	type embedded struct {
		addReq
		C string `json:"c"`
		d int    //lint:ignore U1000 an unexported field, which has no wire name
	}
	names, err := wire.FieldNames(reflect.TypeFor[embedded]())
	is.NoErr(err)
	is.Equal(names, []string{"a", "b", "c"})
}

func TestRoundTripBothCodecs(t *testing.T) {
	for _, c := range []wire.Codec{wire.Msgpack, wire.JSON} {
		t.Run(c.Name(), func(t *testing.T) {
			is := is.New(t)
			body, err := wire.AppendRequest(c, nil, nil, addReq{A: 7, B: -3})
			is.NoErr(err)
			req, err := wire.DecodeRequest(c, body)
			is.NoErr(err)
			bind, _ := wire.NewBinder(reflect.TypeFor[addReq]())
			var got addReq
			is.NoErr(bind.Bind(c, req, &got))
			is.Equal(got, addReq{A: 7, B: -3})

			body, err = wire.AppendRequest(c, nil, []any{"x", 2}, map[string]any{"k": true})
			is.NoErr(err)
			req, err = wire.DecodeRequest(c, body)
			is.NoErr(err)
			is.Equal(len(req.Args), 2)

			reply, err := wire.AppendReply(c, nil, map[string]int{"sum": 4})
			is.NoErr(err)
			ok, res, _, err := wire.DecodeReply(c, reply)
			is.NoErr(err)
			is.True(ok)
			var m map[string]int
			is.NoErr(c.Unmarshal(res, &m))
			is.Equal(m["sum"], 4)

			reply = wire.AppendErrorReply(c, nil, "boom")
			ok, _, msg, err := wire.DecodeReply(c, reply)
			is.NoErr(err)
			is.True(!ok)
			is.Equal(msg, "boom")
		})
	}
}

func TestCompressionThreshold(t *testing.T) {
	for _, tc := range []struct {
		size       int
		threshold  int
		compressed bool
	}{
		{1024, 0, false},
		{1025, 0, true},
		{100, 99, true},
		{100, 100, false},
		{1 << 20, -1, false},
	} {
		is := is.New(t)
		body := bytes.Repeat([]byte("a"), tc.size)
		out := wire.Compress(body, tc.threshold)
		is.Equal(wire.Compressed(out), tc.compressed)
		back, err := wire.Decompress(out, 0)
		is.NoErr(err)
		is.Equal(back, body)
	}
}

func TestCompressKeepsIncompressible(t *testing.T) {
	is := is.New(t)
	rnd := make([]byte, 4096) // random bytes: no zstd frame is shorter
	_, _ = crand.Read(rnd)
	out := wire.Compress(rnd, 0)
	is.True(!wire.Compressed(out))
	is.Equal(out, rnd)
}

func TestDecodeLimits(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, 1000)
	deep = append(deep, 0x01)
	bomb := wire.Compress(make([]byte, 8<<20), 0)
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, wire.ErrMalformed},
		{"not msgpack", []byte{0xc1}, wire.ErrMalformed},
		{"truncated", unhex(t, "92 90 82 a1 61 01 a1"), wire.ErrMalformed},
		{"lying array length", unhex(t, "92 dd ff ff ff ff 80"), wire.ErrMalformed},
		{"lying str length", unhex(t, "92 90 db 7f ff ff ff"), wire.ErrMalformed},
		{"too deep", append([]byte{0x92, 0x90}, deep...), wire.ErrMalformed},
		{"not an envelope", unhex(t, "93 90 80 80"), wire.ErrMalformed},
		{"trailing bytes", unhex(t, "92 90 80 00"), wire.ErrMalformed},
		{"json garbage", []byte("[[], {"), wire.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			c := wire.Msgpack
			if strings.HasPrefix(tc.name, "json") {
				c = wire.JSON
			}
			_, err := wire.DecodeRequest(c, tc.body)
			is.True(errors.Is(err, tc.want))
		})
	}
	t.Run("zstd bomb", func(t *testing.T) {
		is := is.New(t)
		_, err := wire.Decompress(bomb, 1<<20)
		is.True(errors.Is(err, wire.ErrTooLarge))
	})
	t.Run("oversized plain body", func(t *testing.T) {
		is := is.New(t)
		_, err := wire.Decompress(make([]byte, 2<<20), 1<<20)
		is.True(errors.Is(err, wire.ErrTooLarge))
	})
	t.Run("corrupt zstd", func(t *testing.T) {
		is := is.New(t)
		_, err := wire.Decompress([]byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3}, 0)
		is.True(errors.Is(err, wire.ErrMalformed))
	})
}

func TestUnmarshalShared(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 70000)
	for _, payload := range [][]byte{[]byte("hi"), long[:300], long} {
		data, err := wire.Msgpack.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		var a any
		for _, v := range []any{&b, &a} {
			if err := wire.Msgpack.UnmarshalShared(data, v); err != nil {
				t.Fatal(err)
			}
		}
		ab, ok := a.([]byte)
		if !ok || !bytes.Equal(b, payload) || !bytes.Equal(ab, payload) {
			t.Fatalf("%d bytes: got %d and %T", len(payload), len(b), a)
		}
		if &b[0] != &data[len(data)-len(payload)] || &ab[0] != &b[0] {
			t.Errorf("%d bytes: copied, not shared", len(payload))
		}
		if cap(b) != len(b) {
			t.Errorf("%d bytes: cap %d reaches past the value", len(payload), cap(b))
		}
	}
	// Anything else is decoded as Unmarshal decodes it.
	data, _ := wire.Msgpack.Marshal("hi")
	var s any
	if err := wire.Msgpack.UnmarshalShared(data, &s); err != nil || s != "hi" {
		t.Errorf("str: %v, %v", s, err)
	}
	data, _ = wire.Msgpack.Marshal([]byte("hi"))
	var trailing []byte
	if err := wire.Msgpack.UnmarshalShared(append(data, 0x01), &trailing); err == nil {
		t.Errorf("bin followed by more bytes: %q, no error (as Unmarshal gives)", trailing)
	}
	data, _ = wire.JSON.Marshal([]byte("hi"))
	var j []byte
	if err := wire.JSON.UnmarshalShared(data, &j); err != nil || string(j) != "hi" {
		t.Errorf("json: %q, %v", j, err)
	}
}

// TestCompressMemoryBound: what compressing large bodies leaves on the
// heap for good (the encoder lives as long as the program) is bounded by
// its window, not the 16 MiB its default window kept.
func TestCompressMemoryBound(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	body := bytes.Repeat([]byte("a body of some size, compressible, "), 4<<20/35)
	for range 3 {
		if out := wire.Compress(body, 0); len(out) >= len(body) {
			t.Fatal("not compressed")
		}
	}
	body = nil
	if kept := int64(heap()) - int64(before); kept > 6<<20 {
		t.Errorf("compressing 4 MiB bodies kept %.1f MiB on the heap", float64(kept)/(1<<20))
	}
}
