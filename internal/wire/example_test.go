package wire_test

import (
	"fmt"

	"github.com/rabibridge/rabibridge/internal/wire"
)

func ExampleAppendRequest() {
	type AddReq struct {
		A int `json:"a"`
		B int `json:"b"`
	}
	kw, _ := wire.AppendRequest(wire.Msgpack, nil, nil, AddReq{A: 1, B: 2}) // add(a=1, b=2)
	pos, _ := wire.AppendRequest(wire.Msgpack, nil, []any{1, 2}, nil)       // add(1, 2)
	fmt.Printf("% x\n% x\n", kw, pos)
	// Output:
	// 92 90 82 a1 61 01 a1 62 02
	// 92 92 01 02 80
}

func ExampleDecodeReply() {
	ok, result, _, _ := wire.DecodeReply(wire.Msgpack, []byte{0x92, 0x00, 0x03})
	var n int
	_ = wire.Msgpack.Unmarshal(result, &n)
	fmt.Println(ok, n)
	// Output: true 3
}
