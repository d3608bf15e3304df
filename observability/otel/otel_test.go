package otel_test

import (
	"context"
	"testing"

	"github.com/matryer/is"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	rbotel "github.com/rabibridge/rabibridge/observability/otel"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestTrace: the caller's and the worker's spans of a call are in one trace,
// the worker's a child of the caller's, with the function and the code.
func TestTrace(t *testing.T) {
	is := is.New(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	tr := rbotel.New(rbotel.Config{TracerProvider: tp})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	is.NoErr(err)
	defer conn.Close()
	reg := registry.New()
	is.NoErr(demo.Register(reg, registry.Options{}))
	w := worker.New(conn, reg, worker.Config{Interceptors: []rabibridge.Interceptor{tr.Interceptor()}})
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	<-w.Ready()
	c, err := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{tr.Interceptor()}})
	is.NoErr(err)
	defer c.Close()

	_, err = caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 1, B: 2})
	is.NoErr(err)
	_, err = c.Invoke(ctx, "fail", nil, nil)
	is.True(err != nil)

	spans := exp.GetSpans()
	is.Equal(len(spans), 4)
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	client, server := byName["rabibridge call add"], byName["rabibridge handle add"]
	is.Equal(client.SpanKind, trace.SpanKindClient)
	is.Equal(server.SpanKind, trace.SpanKindServer)
	is.Equal(server.SpanContext.TraceID(), client.SpanContext.TraceID()) // one trace
	is.Equal(server.Parent.SpanID(), client.SpanContext.SpanID())        // the worker's span is the caller's child
	attrs := map[string]string{}
	for _, a := range server.Attributes {
		attrs[string(a.Key)] = a.Value.String()
	}
	is.Equal(attrs["rabibridge.function"], "add")
	is.Equal(attrs["rabibridge.code"], "ok")
	failed := byName["rabibridge handle fail"]
	is.Equal(failed.Status.Code.String(), "Error")
}
