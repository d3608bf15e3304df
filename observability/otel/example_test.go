package otel_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/observability/otel"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	spans := tracetest.NewInMemoryExporter() // an OTLP exporter in a program
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	var tracing *otel.Tracing = otel.New(otel.Config{TracerProvider: tp})

	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://example-otel"})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fns := registry.New()
	_ = registry.RegisterIn(fns, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil }, registry.Options{})
	w := worker.New(conn, fns, worker.Config{Interceptors: []rabibridge.Interceptor{tracing.Interceptor()}})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()

	c, err := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{tracing.Interceptor()}})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	n, err := caller.Call[int, int](ctx, c, "double", 21)
	fmt.Println(n, err)

	// The worker's span continues the caller's trace.
	ended := spans.GetSpans() // in the order they ended: the handler's first
	handle, call := ended[0], ended[1]
	fmt.Println(handle.Name, handle.SpanKind, handle.Attributes)
	fmt.Println(call.Name, call.SpanKind)
	fmt.Println("same trace:", handle.SpanContext.TraceID() == call.SpanContext.TraceID(),
		"parent is the call:", handle.Parent.SpanID() == call.SpanContext.SpanID())
	for _, a := range call.Attributes {
		if a.Key == otel.AttrFunction || a.Key == otel.AttrCode {
			fmt.Println(a.Key, a.Value.AsString())
		}
	}
	// Output:
	// 42 <nil>
	// rabibridge handle double server [{"rabibridge.function":"double"} {"rabibridge.redelivered":false} {"rabibridge.code":"ok"}]
	// rabibridge call double client
	// same trace: true parent is the call: true
	// rabibridge.function double
	// rabibridge.code ok
}
