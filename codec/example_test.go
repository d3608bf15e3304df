package codec_test

import (
	"fmt"
	"time"

	"github.com/rabibridge/rabibridge/codec"
)

func ExampleCodec() {
	type Event struct {
		ID   uint64    `json:"id"`
		At   time.Time `json:"at"`
		Blob []byte    `json:"blob"`
	}
	in := Event{ID: 18446744073709551615, At: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), Blob: []byte{1, 2}}
	for _, c := range []codec.Codec{codec.Msgpack, codec.JSON} {
		b, err := c.Marshal(in)
		if err != nil {
			panic(err)
		}
		var out Event
		if err := c.Unmarshal(b, &out); err != nil {
			panic(err)
		}
		fmt.Println(c.Name(), c.ContentType(), out.ID, out.At.Format(time.RFC3339), out.Blob)
	}
	// Output:
	// msgpack application/msgpack 18446744073709551615 2026-12-02T00:00:00Z [1 2]
	// json application/json 18446744073709551615 2026-12-02T00:00:00Z [1 2]
}

func ExampleByName() {
	c, ok := codec.ByName("JSON") // as RabiBridge's SERIALISER setting names it
	fmt.Println(c.Name(), ok)
	_, ok = codec.ByName("pickle")
	fmt.Println(ok)
	// Output:
	// json true
	// false
}
