package wire_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/rabibridge/rabibridge/internal/wire"
)

// TestMsgpackBytesAndStrings: byte strings and strings, which the codec
// appends itself, come out byte for byte as msgpack v5 encodes them, at
// every length where the head changes form.
func TestMsgpackBytesAndStrings(t *testing.T) {
	lengths := []int{0, 1, 31, 32, 255, 256, 65535, 65536, 70000}
	var values []any
	for _, n := range lengths {
		values = append(values, bytes.Repeat([]byte{0xab}, n), strings.Repeat("é", n/2)+strings.Repeat("x", n%2))
	}
	values = append(values, []byte(nil), "")
	for _, v := range values {
		want, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, prefix := range [][]byte{nil, []byte("prefix")} {
			got, err := wire.AppendRequestArg(wire.Msgpack, bytes.Clone(prefix), v)
			is := is.New(t)
			is.NoErr(err)
			wantCall := append(append(bytes.Clone(prefix), 0x92, 0x91), want...)
			wantCall = append(wantCall, 0x80)
			is.Equal(got, wantCall) // as msgpack v5 encodes it, after what dst held
		}
		got, err := wire.Msgpack.Marshal(v)
		is.New(t).NoErr(err)
		is.New(t).Equal(got, want)

		// And it decodes back as it was.
		var back any
		is.New(t).NoErr(wire.Msgpack.Unmarshal(got, &back))
	}
}

// TestMsgpackLargeBodyOneBuffer: a large byte string is put in its
// envelope with one buffer of about its size: no buffer grown step by step,
// no second buffer for what the envelope adds after it.
func TestMsgpackLargeBodyOneBuffer(t *testing.T) {
	is := is.New(t)
	body := bytes.Repeat([]byte("abcd"), 1<<18) // 1 MiB
	for _, encode := range []func() ([]byte, error){
		func() ([]byte, error) { return wire.AppendRequestArg(wire.Msgpack, make([]byte, 0, 128), body) },
		func() ([]byte, error) { return wire.AppendReply(wire.Msgpack, nil, body) },
	} {
		var out []byte
		n := allocated(func() { out, _ = encode() })
		is.True(len(out) > len(body))
		is.True(n < uint64(len(body))*5/4) // one buffer of the body's size (rounded up to a size class)
	}
}

// allocated is how many bytes f allocates, on average over 10 runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / 10
}

// TestUnmarshalIntoHeldAny: an any that holds a value already (a retry's
// second decode into the same result) is replaced, not decoded into.
func TestUnmarshalIntoHeldAny(t *testing.T) {
	var v any = int64(3)
	if err := wire.Msgpack.Unmarshal([]byte{0x05}, &v); err != nil || v != int64(5) {
		t.Fatalf("%v %v", v, err)
	}
	v = map[string]any{"a": int64(1)}
	if err := wire.Msgpack.Unmarshal([]byte{0x81, 0xa1, 'b', 0x02}, &v); err != nil || len(v.(map[string]any)) != 1 {
		t.Fatalf("%v %v", v, err)
	}
}
