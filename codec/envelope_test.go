package codec_test

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/codec"
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
		b, err := codec.AppendRequestArg(codec.Msgpack, nil, 5)
		is.NoErr(err)
		is.Equal(b, unhex(t, "92 91 05 80")) // echo(5)
		b, err = codec.AppendRequest(codec.Msgpack, nil, nil, addReq{A: 1, B: 2})
		is.NoErr(err)
		is.Equal(b, unhex(t, "92 90 82 a1 61 01 a1 62 02")) // add(a=1, b=2)
		b, err = codec.AppendRequest(codec.Msgpack, nil, []any{1, 2}, nil)
		is.NoErr(err)
		is.Equal(b, unhex(t, "92 92 01 02 80")) // add(1, 2)
		b, err = codec.AppendReply(codec.Msgpack, nil, 3)
		is.NoErr(err)
		is.Equal(b, unhex(t, "92 00 03")) // reply 3
		b = codec.AppendErrorReply(codec.Msgpack, nil, strings.Repeat("x", 40))
		is.Equal(b[:3], unhex(t, "92 01 d9")) // str8 message
	})

	bind, err := codec.NewBinder(reflect.TypeFor[addReq]())
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
			req, err := codec.DecodeRequest(codec.Msgpack, unhex(t, tc.body))
			is.NoErr(err)
			var got addReq
			is.NoErr(bind.Bind(codec.Msgpack, req, &got))
			is.Equal(got, addReq{A: 1, B: 2})
		})
	}

	t.Run("decode one positional into a non-struct", func(t *testing.T) {
		is := is.New(t)
		b, err := codec.NewBinder(reflect.TypeFor[int]())
		is.NoErr(err)
		req, err := codec.DecodeRequest(codec.Msgpack, unhex(t, "92 91 05 80"))
		is.NoErr(err)
		var n int
		is.NoErr(b.Bind(codec.Msgpack, req, &n))
		is.Equal(n, 5)
	})

	t.Run("decode reply", func(t *testing.T) {
		is := is.New(t)
		ok, res, _, err := codec.DecodeReply(codec.Msgpack, unhex(t, "92 00 03"))
		is.NoErr(err)
		is.True(ok)
		var n int
		is.NoErr(codec.Msgpack.Unmarshal(res, &n))
		is.Equal(n, 3)
		body := codec.AppendErrorReply(codec.Msgpack, nil, "Traceback ...\nZeroDivisionError: division by zero\n")
		ok, _, msg, err := codec.DecodeReply(codec.Msgpack, body)
		is.NoErr(err)
		is.True(!ok)
		is.True(strings.Contains(msg, "ZeroDivisionError"))
	})
}

func TestBindErrors(t *testing.T) {
	bind, _ := codec.NewBinder(reflect.TypeFor[addReq]())
	for _, tc := range []struct{ name, body string }{
		{"too many positional", "92 93 01 02 03 80"},
		{"given twice", "92 91 01 81 a1 61 02"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			req, err := codec.DecodeRequest(codec.Msgpack, unhex(t, tc.body))
			is.NoErr(err)
			var got addReq
			err = bind.Bind(codec.Msgpack, req, &got)
			is.True(errors.Is(err, codec.ErrMalformed))
		})
	}
}

func TestFieldNamesConflict(t *testing.T) {
	is := is.New(t)
	type bad struct {
		A int `msgpack:"a" json:"alpha"`
	}
	_, err := codec.FieldNames(reflect.TypeFor[bad]())
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "A"))
	type embedded struct {
		addReq
		C string `json:"c"`
		d int
	}
	names, err := codec.FieldNames(reflect.TypeFor[embedded]())
	is.NoErr(err)
	is.Equal(names, []string{"a", "b", "c"})
}

func TestRoundTripBothCodecs(t *testing.T) {
	for _, c := range []codec.Codec{codec.Msgpack, codec.JSON} {
		t.Run(c.Name(), func(t *testing.T) {
			is := is.New(t)
			body, err := codec.AppendRequest(c, nil, nil, addReq{A: 7, B: -3})
			is.NoErr(err)
			req, err := codec.DecodeRequest(c, body)
			is.NoErr(err)
			bind, _ := codec.NewBinder(reflect.TypeFor[addReq]())
			var got addReq
			is.NoErr(bind.Bind(c, req, &got))
			is.Equal(got, addReq{A: 7, B: -3})

			body, err = codec.AppendRequest(c, nil, []any{"x", 2}, map[string]any{"k": true})
			is.NoErr(err)
			req, err = codec.DecodeRequest(c, body)
			is.NoErr(err)
			is.Equal(len(req.Args), 2)

			reply, err := codec.AppendReply(c, nil, map[string]int{"sum": 4})
			is.NoErr(err)
			ok, res, _, err := codec.DecodeReply(c, reply)
			is.NoErr(err)
			is.True(ok)
			var m map[string]int
			is.NoErr(c.Unmarshal(res, &m))
			is.Equal(m["sum"], 4)

			reply = codec.AppendErrorReply(c, nil, "boom")
			ok, _, msg, err := codec.DecodeReply(c, reply)
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
		out := codec.Compress(body, tc.threshold)
		is.Equal(codec.Compressed(out), tc.compressed)
		back, err := codec.Decompress(out, 0)
		is.NoErr(err)
		is.Equal(back, body)
	}
}

func TestCompressKeepsIncompressible(t *testing.T) {
	is := is.New(t)
	rnd := make([]byte, 4096) // random bytes: no zstd frame is shorter
	_, _ = crand.Read(rnd)
	out := codec.Compress(rnd, 0)
	is.True(!codec.Compressed(out))
	is.Equal(out, rnd)
}

func TestDecodeLimits(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, 1000)
	deep = append(deep, 0x01)
	bomb := codec.Compress(make([]byte, 8<<20), 0)
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, codec.ErrMalformed},
		{"not msgpack", []byte{0xc1}, codec.ErrMalformed},
		{"truncated", unhex(t, "92 90 82 a1 61 01 a1"), codec.ErrMalformed},
		{"lying array length", unhex(t, "92 dd ff ff ff ff 80"), codec.ErrMalformed},
		{"lying str length", unhex(t, "92 90 db 7f ff ff ff"), codec.ErrMalformed},
		{"too deep", append([]byte{0x92, 0x90}, deep...), codec.ErrMalformed},
		{"not an envelope", unhex(t, "93 90 80 80"), codec.ErrMalformed},
		{"trailing bytes", unhex(t, "92 90 80 00"), codec.ErrMalformed},
		{"json garbage", []byte("[[], {"), codec.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			c := codec.Msgpack
			if strings.HasPrefix(tc.name, "json") {
				c = codec.JSON
			}
			_, err := codec.DecodeRequest(c, tc.body)
			is.True(errors.Is(err, tc.want))
		})
	}
	t.Run("zstd bomb", func(t *testing.T) {
		is := is.New(t)
		_, err := codec.Decompress(bomb, 1<<20)
		is.True(errors.Is(err, codec.ErrTooLarge))
	})
	t.Run("oversized plain body", func(t *testing.T) {
		is := is.New(t)
		_, err := codec.Decompress(make([]byte, 2<<20), 1<<20)
		is.True(errors.Is(err, codec.ErrTooLarge))
	})
	t.Run("corrupt zstd", func(t *testing.T) {
		is := is.New(t)
		_, err := codec.Decompress([]byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3}, 0)
		is.True(errors.Is(err, codec.ErrMalformed))
	})
}

func TestUnmarshalShared(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 70000)
	for _, payload := range [][]byte{[]byte("hi"), long[:300], long} {
		data, err := codec.Msgpack.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		var a any
		for _, v := range []any{&b, &a} {
			if err := codec.UnmarshalShared(codec.Msgpack, data, v); err != nil {
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
	data, _ := codec.Msgpack.Marshal("hi")
	var s any
	if err := codec.UnmarshalShared(codec.Msgpack, data, &s); err != nil || s != "hi" {
		t.Errorf("str: %v, %v", s, err)
	}
	data, _ = codec.Msgpack.Marshal([]byte("hi"))
	var trailing []byte
	if err := codec.UnmarshalShared(codec.Msgpack, append(data, 0x01), &trailing); err == nil {
		t.Errorf("bin followed by more bytes: %q, no error (as Unmarshal gives)", trailing)
	}
	data, _ = codec.JSON.Marshal([]byte("hi"))
	var j []byte
	if err := codec.UnmarshalShared(codec.JSON, data, &j); err != nil || string(j) != "hi" {
		t.Errorf("json: %q, %v", j, err)
	}
}
