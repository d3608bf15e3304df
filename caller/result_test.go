package caller_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/codec"
	"github.com/rabibridge/rabibridge/internal/wire"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

type addReq struct {
	A int `json:"a"`
	B int `json:"b"`
}

type addResp struct {
	Sum int `json:"sum"`
}

// TestResultMismatch: a Resp that does not fit what the function returns
// says what came and what was asked for, not "malformed body".
func TestResultMismatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := registry.New()
	if err := registry.RegisterIn(reg, "add", func(_ context.Context, r addReq) (addResp, error) {
		return addResp{Sum: r.A + r.B}, nil
	}, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{})
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	<-w.Ready()
	for _, cd := range []codec.Codec{codec.Msgpack, codec.JSON} {
		t.Run(cd.Name(), func(t *testing.T) {
			is := is.New(t)
			c, err := caller.New(conn, caller.Config{Codec: cd})
			is.NoErr(err)
			defer c.Close()
			_, err = caller.Call[addReq, int](ctx, c, "add", addReq{A: 1, B: 2})
			is.True(err != nil)
			msg := err.Error()
			is.True(strings.Contains(msg, "the result is an object with sum")) // what came
			is.True(strings.Contains(msg, "does not decode into int"))         // what was asked for
			is.True(strings.Contains(msg, "Resp"))                             // what to check
			var te *wire.TypeError
			is.True(errors.As(err, &te))                // the decoder's error is still there
			is.Equal(te.Got, "map")                     // it says what came
			is.True(!errors.Is(err, wire.ErrMalformed)) // the body is well formed: the types disagree
			got, err := caller.Call[addReq, addResp](ctx, c, "add", addReq{A: 1, B: 2})
			is.NoErr(err)
			is.Equal(got.Sum, 3)
		})
	}
}
