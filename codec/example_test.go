package codec_test

import (
	"fmt"

	"github.com/rabibridge/rabibridge/codec"
)

func ExampleAppendRequest() {
	type AddReq struct {
		A int `json:"a"`
		B int `json:"b"`
	}
	kw, _ := codec.AppendRequest(codec.Msgpack, nil, nil, AddReq{A: 1, B: 2}) // add(a=1, b=2)
	pos, _ := codec.AppendRequest(codec.Msgpack, nil, []any{1, 2}, nil)       // add(1, 2)
	fmt.Printf("% x\n% x\n", kw, pos)
	// Output:
	// 92 90 82 a1 61 01 a1 62 02
	// 92 92 01 02 80
}

func ExampleDecodeReply() {
	ok, result, _, _ := codec.DecodeReply(codec.Msgpack, []byte{0x92, 0x00, 0x03})
	var n int
	_ = codec.Msgpack.Unmarshal(result, &n)
	fmt.Println(ok, n)
	// Output: true 3
}
