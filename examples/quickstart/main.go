// Command quickstart is the README's quick start as a program: it registers
// a typed handler, serves it, calls it, and tells the ways a call can fail
// apart. It runs on the in-process transport, or on RabbitMQ when
// RABIBRIDGE_URL names one:
//
//	go run ./examples/quickstart
//	RABIBRIDGE_URL=amqp://guest:guest@127.0.0.1:5672/ go run ./examples/quickstart
//
// The README quotes the blocks between the "README" markers; a test checks
// that it quotes them as they are here.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// README: types

type AddReq struct {
	A int `msgpack:"a" json:"a" jsonschema:"minimum=0"`
	B int `msgpack:"b" json:"b"`
}

type AddResp struct {
	Sum int `msgpack:"sum" json:"sum"`
}

// README: end

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	url := os.Getenv("RABIBRIDGE_URL")
	if url == "" {
		url = "mem://"
	}
	if err := run(ctx, url, registry.New(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, reg *registry.Registry, out io.Writer) error {
	// README: serve
	// A worker process registers handlers and serves them.
	err := registry.RegisterIn(reg, "add", func(ctx context.Context, r AddReq) (AddResp, error) {
		return AddResp{Sum: r.A + r.B}, nil
	}, registry.Options{QueueSize: 10000, FetchSize: 128, MaxQueueWait: 10 * time.Second, Validate: true})
	if err != nil {
		return err
	}

	conn, err := bridge.Dial(ctx, bridge.Config{URL: url}) // "mem://" or "amqp://guest:guest@127.0.0.1:5672/"
	if err != nil {
		return err
	}
	defer conn.Close()

	w := worker.New(conn, reg, worker.Config{})
	if err := w.Start(ctx); err != nil { // returns once every queue is consumed
		return err // a queue could not be declared, ...
	}
	defer w.Shutdown(context.Background()) // drains: calls in flight finish, their replies go out
	// README: end

	// README: call
	// A caller, in any process on the same broker.
	c, err := caller.New(conn, caller.Config{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()

	resp, err := caller.Call[AddReq, AddResp](ctx, c, "add", AddReq{A: 1, B: 2})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "1 + 2 =", resp.Sum)
	// README: end

	// Each way a call can fail, told apart.
	for _, req := range []AddReq{{A: -1, B: 2}} {
		_, err := caller.Call[AddReq, AddResp](ctx, c, "add", req)
		fmt.Fprintln(out, explain(err))
	}
	_, err = caller.Call[AddReq, AddResp](ctx, c, "subtract", AddReq{A: 1, B: 2})
	fmt.Fprintln(out, explain(err))
	return nil
}

// explain says what kind of failure err is.
func explain(err error) string {
	// README: errors
	var re *rabibridge.RemoteError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, rabibridge.ErrQueueFull): // the queue is at QueueSize: back off
		return "queue full: retry later"
	case errors.Is(err, rabibridge.ErrNoSuchFunction): // nobody serves the function
		return "no such function"
	case errors.Is(err, context.DeadlineExceeded): // ctx's deadline passed (here or on the worker)
		return "timed out"
	case errors.As(err, &re): // the handler failed, or refused the request
		return fmt.Sprintf("remote error %s: %s", re.Code, re.Message)
	}
	return "failed: " + err.Error()
	// README: end
}
