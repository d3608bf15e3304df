package rabibridge_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

type GreetReq struct {
	Name string `json:"name" jsonschema:"minLength=1"`
}

type GreetResp struct {
	Text string `json:"text"`
}

// Start here: a typed function registered, served and called, all in one
// process on the in-process transport. Give bridge.Dial an amqp:// URL and
// run the worker and the caller in different processes, and nothing else
// changes.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	// The worker side: register handlers, serve them.
	fns := registry.New()
	err := registry.RegisterIn(fns, "greet", func(_ context.Context, r GreetReq) (GreetResp, error) {
		return GreetResp{Text: "hello, " + r.Name}, nil
	}, registry.Options{Validate: true})
	if err != nil {
		panic(err)
	}
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://start-here"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	w := worker.New(conn, fns, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()
	if err := w.Err(); err != nil {
		panic(err)
	}

	// The caller side: typed calls, errors to branch on.
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	resp, err := caller.Call[GreetReq, GreetResp](ctx, c, "greet", GreetReq{Name: "gopher"})
	fmt.Println(resp.Text, err)

	_, err = caller.Call[GreetReq, GreetResp](ctx, c, "greet", GreetReq{})
	var re *rabibridge.RemoteError
	fmt.Println(errors.As(err, &re), re.Code, rabibridge.Retryable(err))

	_, err = caller.Call[GreetReq, GreetResp](ctx, c, "wave", GreetReq{Name: "gopher"})
	fmt.Println(errors.Is(err, rabibridge.ErrNoSuchFunction))
	// Output:
	// hello, gopher <nil>
	// true invalid_argument false
	// true
}
