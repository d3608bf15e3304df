package caller_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

type AddReq struct {
	A int `msgpack:"a" json:"a" jsonschema:"minimum=0"`
	B int `msgpack:"b" json:"b"`
}

type AddResp struct {
	Sum int `msgpack:"sum" json:"sum"`
}

func ExampleCall() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	reg := registry.New()
	_ = registry.RegisterIn(reg, "add", func(ctx context.Context, r AddReq) (AddResp, error) {
		return AddResp{Sum: r.A + r.B}, nil
	}, registry.Options{Validate: true})

	// mem:// is the in-process transport; amqp://... is RabbitMQ.
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://example-call"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	w := worker.New(conn, reg, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready() // every queue is consumed
	if err := w.Err(); err != nil {
		panic(err)
	}

	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	resp, err := caller.Call[AddReq, AddResp](ctx, c, "add", AddReq{A: 1, B: 2})
	fmt.Println(resp.Sum, err)

	// A request that fails validation: the remote side says what is wrong.
	_, err = caller.Call[AddReq, AddResp](ctx, c, "add", AddReq{A: -1, B: 2})
	var re *rabibridge.RemoteError
	if errors.As(err, &re) {
		fmt.Println(re.Code, re.Message)
	}

	_, err = caller.Call[AddReq, AddResp](ctx, c, "subtract", AddReq{})
	fmt.Println(errors.Is(err, rabibridge.ErrNoSuchFunction))
	// Output:
	// 3 <nil>
	// invalid_argument add: invalid: /a: minimum: got -1, want 0
	// true
}

func ExampleCaller_Invoke() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	reg := registry.New()
	_ = registry.RegisterIn(reg, "add", func(ctx context.Context, r AddReq) (int, error) { return r.A + r.B, nil }, registry.Options{})
	conn, _ := bridge.Dial(ctx, bridge.Config{URL: "mem://example-invoke"})
	defer conn.Close()
	w := worker.New(conn, reg, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()
	c, _ := caller.New(conn, caller.Config{})
	defer c.Close()

	// Positional arguments, as a Python caller sends remote_call('add', (1, 2)).
	v, err := c.Invoke(ctx, "add", []any{1, 2}, nil)
	fmt.Println(v, err)
	v, err = c.Invoke(ctx, "add", nil, map[string]any{"a": 3, "b": 4})
	fmt.Println(v, err)
	// Output:
	// 3 <nil>
	// 7 <nil>
}

func ExampleCaller_Discover() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	reg := registry.New()
	_ = registry.RegisterIn(reg, "add", func(ctx context.Context, r AddReq) (int, error) { return r.A + r.B, nil },
		registry.Options{Description: "adds two numbers"})
	conn, _ := bridge.Dial(ctx, bridge.Config{URL: "mem://example-discover"})
	defer conn.Close()
	w := worker.New(conn, reg, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()
	c, _ := caller.New(conn, caller.Config{})
	defer c.Close()

	// With no deadline on ctx, Discover listens for one second.
	instances, err := c.Discover(ctx)
	if err != nil {
		panic(err)
	}
	for _, in := range instances {
		for _, f := range in.Functions {
			fmt.Println(in.ID == w.Instance().ID, f.Name, f.Description, f.Stats.Calls)
		}
	}
	// Output:
	// true add adds two numbers 0
}

func ExampleNew_interceptors() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	reg := registry.New()
	_ = registry.RegisterIn(reg, "add", func(ctx context.Context, r AddReq) (int, error) { return r.A + r.B, nil }, registry.Options{})
	conn, _ := bridge.Dial(ctx, bridge.Config{URL: "mem://example-interceptors"})
	defer conn.Close()
	w := worker.New(conn, reg, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()

	// One interceptor that logs each call with its request, and retries a
	// call that failed retryably, within the call's context, up to the
	// broker's recovery window (60 s) after a loss.
	logAndRetry := func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, call *rabibridge.Call) error {
			if args, ok := call.Request.(caller.Args); ok { // Invoke's arguments
				fmt.Println("invoke", call.Function, args.Args, args.Kwargs)
			} else {
				fmt.Printf("call %s %+v\n", call.Function, call.Request)
			}
			for {
				err := next(ctx, call)
				if !rabibridge.Retryable(err) || ctx.Err() != nil {
					return err
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	c, _ := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{logAndRetry}})
	defer c.Close()
	sum, err := caller.Call[AddReq, int](ctx, c, "add", AddReq{A: 1, B: 2})
	fmt.Println(sum, err)
	v, err := c.Invoke(ctx, "add", []any{3, 4}, nil)
	fmt.Println(v, err)
	// Output:
	// call add {A:1 B:2}
	// 3 <nil>
	// invoke add [3 4] map[]
	// 7 <nil>
}

func ExampleSend() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	reg := registry.New()
	audited := make(chan string, 1)
	_ = registry.RegisterIn(reg, "audit", func(ctx context.Context, r struct {
		Event string `json:"event"`
	}) (struct{}, error) {
		audited <- r.Event
		return struct{}{}, nil
	}, registry.Options{})
	conn, _ := bridge.Dial(ctx, bridge.Config{URL: "mem://example-send"})
	defer conn.Close()
	w := worker.New(conn, reg, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()
	c, _ := caller.New(conn, caller.Config{})
	defer c.Close()

	// Send returns once the broker has the call; no reply comes back.
	err := caller.Send(ctx, c, "audit", struct {
		Event string `json:"event"`
	}{"login"})
	fmt.Println(err, <-audited)
	// Positional arguments go as an Args, as Invoke sends them.
	err = caller.Send(ctx, c, "nowhere", caller.Args{Args: []any{1}})
	fmt.Println(errors.Is(err, rabibridge.ErrNoSuchFunction))
	// Output:
	// <nil> login
	// true
}

func ExampleGather() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	conn, _ := bridge.Dial(ctx, bridge.Config{URL: "mem://example-gather"})
	defer conn.Close()
	// Two worker instances, each with a cache of its own.
	for _, held := range []int{3, 5} {
		reg := registry.New()
		_ = registry.RegisterIn(reg, "evict", func(ctx context.Context, key string) (int, error) { return held, nil }, registry.Options{})
		w := worker.New(conn, reg, worker.Config{})
		served := make(chan error, 1)
		go func() { served <- w.Serve(ctx) }()
		defer func() { stop(); <-served }()
		<-w.Ready()
	}
	c, _ := caller.New(conn, caller.Config{})
	defer c.Close()

	gctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	answers, err := caller.Gather[string, int](gctx, c, "evict", "user:42")
	if err != nil {
		panic(err)
	}
	total := 0
	for _, a := range answers {
		var _ caller.Answer[int] = a
		if a.Err == nil {
			total += a.Value
		}
	}
	fmt.Println(len(answers), "instances evicted", total, "entries")
	// Output: 2 instances evicted 8 entries
}

// How long Discover and Gather collect answers without a deadline, and how
// long a missing function is reported as retryable after a caller or the
// function last had a connection.
func Example_defaults() {
	fmt.Println(caller.DefaultDiscoverWait, caller.RecoveryWindow)
	// Output: 1s 1m0s
}

// A procedure declared once, in a package the worker and its callers both
// import: the name, kind and types are checked by the compiler on both
// sides.
func ExampleNewClient() {
	type GreetReq struct {
		Name string `json:"name"`
	}
	ctx := context.Background()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://example-client"}) // or amqp://...
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fns := registry.New()
	c, _ := caller.New(conn, caller.Config{})
	defer c.Close()

	// README: procedure
	// In a package the worker and its callers both import:
	greet := rabibridge.Procedure[GreetReq, string]{Name: "greet"} // Kind: "sync" for a sync function

	// The worker implements it, in a registry it serves:
	if err := registry.ImplementIn(fns, greet, func(ctx context.Context, r GreetReq) (string, error) {
		return "hello, " + r.Name, nil
	}, registry.Options{}); err != nil {
		panic(err)
	}
	w := worker.New(conn, fns, worker.Config{})
	if err := w.Start(ctx); err != nil {
		panic(err)
	}
	defer w.Shutdown(ctx)

	// A caller calls it through a *caller.Client[GreetReq, string]:
	client := caller.NewClient(c, greet)
	s, err := client.Call(ctx, GreetReq{Name: "gopher"}) // also client.Send, client.Gather
	// README: end

	fmt.Println(s, err)
	fmt.Println(client.Send(ctx, GreetReq{Name: "nobody waits"}))
	answers, _ := client.Gather(ctx, GreetReq{Name: "all"})
	fmt.Println(len(answers), answers[0].Value)
	// Output:
	// hello, gopher <nil>
	// <nil>
	// 1 hello, all
}

// Retry retries what may succeed if made again, within the call's
// deadline, with backoff, jitter and a budget; it counts each retry.
func ExampleRetry() {
	ctx := context.Background()
	conn, _ := bridge.Dial(ctx, bridge.Config{URL: "mem://example-retry"})
	defer conn.Close()
	reg := registry.New()
	tries := 0
	_ = registry.RegisterIn(reg, "warm", func(ctx context.Context, n int) (int, error) {
		if tries++; tries < 3 {
			return 0, rabibridge.Errorf(rabibridge.CodeUnavailable, "warming up")
		}
		return n, nil
	}, registry.Options{})
	w := worker.New(conn, reg, worker.Config{})
	if err := w.Start(ctx); err != nil {
		panic(err)
	}
	defer w.Shutdown(ctx)

	retries := 0
	c, _ := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{
		caller.Retry(caller.RetryPolicy{
			MaxAttempts: 5,
			// Idempotent: func(fn string) bool { return fn == "lookup" },
			OnRetry: func(string, int, error) { retries++ }, // or prometheus.Metrics.Retried
		}),
	}})
	defer c.Close()
	n, err := caller.Call[int, int](ctx, c, "warm", 7)
	fmt.Println(n, err, retries)
	// Output: 7 <nil> 2
}
