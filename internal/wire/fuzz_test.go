package wire_test

import (
	"reflect"
	"testing"

	"github.com/rabibridge/rabibridge/internal/wire"
)

// The decoders of bytes from the network must never panic. `make fuzz` runs
// these for longer; `go test` runs their seeds.

func seedBodies(f *testing.F) {
	for _, s := range [][]byte{
		{0x92, 0x91, 0x05, 0x80},
		{0x92, 0x90, 0x82, 0xa1, 0x61, 0x01, 0xa1, 0x62, 0x02},
		{0x92, 0x92, 0x01, 0x02, 0x80},
		{0x92, 0x00, 0x03},
		{0x92, 0x01, 0xa4, 'b', 'o', 'o', 'm'},
		{0x92, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x80},
		[]byte(`[[1,2],{"a":1}]`),
		{0x28, 0xb5, 0x2f, 0xfd, 0x00},
	} {
		f.Add(s)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	seedBodies(f)
	type req struct {
		A int    `json:"a"`
		B string `json:"b"`
	}
	bind, err := wire.NewBinder(reflect.TypeFor[req]())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range []wire.Codec{wire.Msgpack, wire.JSON} {
			r, err := wire.DecodeRequest(c, body)
			if err != nil {
				continue
			}
			var v req
			_ = bind.Bind(c, r, &v)
			_, _ = bind.Generic(c, r)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range []wire.Codec{wire.Msgpack, wire.JSON} {
			ok, res, _, err := wire.DecodeReply(c, body)
			if err == nil && ok {
				var v any
				_ = c.Unmarshal(res, &v)
			}
		}
	})
}

func FuzzDecompress(f *testing.F) {
	seedBodies(f)
	f.Add(wire.Compress(make([]byte, 4096), 0))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := wire.Decompress(body, 1<<16)
		if err == nil && len(out) > 1<<16 {
			t.Fatalf("decompressed %d bytes past the limit", len(out))
		}
	})
}
