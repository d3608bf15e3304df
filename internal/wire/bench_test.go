package wire_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/rabibridge/rabibridge/internal/wire"
)

func BenchmarkEncodeRequest(b *testing.B) {
	for _, c := range []wire.Codec{wire.Msgpack, wire.JSON} {
		b.Run(c.Name(), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 64)
			for b.Loop() {
				var err error
				if buf, err = wire.AppendRequest(c, buf[:0], nil, addReq{A: 1, B: 2}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	bind, _ := wire.NewBinder(reflect.TypeFor[addReq]())
	for _, c := range []wire.Codec{wire.Msgpack, wire.JSON} {
		body, _ := wire.AppendRequest(c, nil, nil, addReq{A: 1, B: 2})
		b.Run(c.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, err := wire.DecodeRequest(c, body)
				if err != nil {
					b.Fatal(err)
				}
				var v addReq
				if err := bind.Bind(c, req, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeReply(b *testing.B) {
	for _, c := range []wire.Codec{wire.Msgpack, wire.JSON} {
		body, _ := wire.AppendReply(c, nil, 3)
		b.Run(c.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ok, res, _, err := wire.DecodeReply(c, body)
				if err != nil || !ok {
					b.Fatal(err)
				}
				var n int
				if err := c.Unmarshal(res, &n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompress(b *testing.B) {
	body := []byte(strings.Repeat("rabibridge ", 1<<20/11))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out := wire.Compress(body, 0)
		if _, err := wire.Decompress(out, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeLarge is a 1 MiB byte string put in a call's envelope and
// in a reply's, as a 1 MiB echo does on each side.
func BenchmarkEncodeLarge(b *testing.B) {
	body := bytes.Repeat([]byte("abcd"), 1<<18)
	b.SetBytes(int64(2 * len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.AppendRequestArg(wire.Msgpack, make([]byte, 0, 128), body); err != nil {
			b.Fatal(err)
		}
		if _, err := wire.AppendReply(wire.Msgpack, nil, body); err != nil {
			b.Fatal(err)
		}
	}
}
