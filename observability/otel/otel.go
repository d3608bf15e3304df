// Package otel traces rabibridge calls with OpenTelemetry: W3C trace
// context travels in the call's AMQP headers from caller to worker, and each
// side makes a span per call with the function's name and the call's code.
// It works over the worker's middleware and the caller's interceptors, so
// the core packages do not depend on OpenTelemetry.
//
//	t := otel.New(otel.Config{}) // the global TracerProvider and propagator
//	w := worker.New(conn, reg, worker.Config{Middleware: []worker.Middleware{t.Middleware()}})
//	c, err := caller.New(conn, caller.Config{Interceptors: []caller.Interceptor{t.Interceptor()}})
package otel

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/worker"
)

// Config configures the tracing. The zero value uses the global
// TracerProvider and the W3C trace context propagator.
type Config struct {
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// Tracing makes spans of calls.
type Tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New returns the tracing cfg describes.
func New(cfg Config) *Tracing {
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	prop := cfg.Propagator
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return &Tracing{tracer: tp.Tracer("github.com/rabibridge/rabibridge"), prop: prop}
}

// Attribute keys of the spans.
const (
	AttrFunction = attribute.Key("rabibridge.function")
	AttrCode     = attribute.Key("rabibridge.code")
)

// Interceptor starts a client span per call and sends its context in the
// call's headers.
func (t *Tracing) Interceptor() caller.Interceptor {
	return func(next caller.Invoker) caller.Invoker {
		return func(ctx context.Context, inv *caller.Invocation) error {
			ctx, span := t.tracer.Start(ctx, "rabibridge call "+inv.Function,
				trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(AttrFunction.String(inv.Function), attribute.String("messaging.system", "rabbitmq")))
			defer span.End()
			if inv.Headers == nil {
				inv.Headers = map[string]string{}
			}
			t.prop.Inject(ctx, propagation.MapCarrier(inv.Headers))
			err := next(ctx, inv)
			end(span, err)
			return err
		}
	}
}

// Middleware continues the caller's trace in a server span per call.
func (t *Tracing) Middleware() worker.Middleware {
	return func(next worker.Handler) worker.Handler {
		return func(ctx context.Context, call *worker.Call) (any, error) {
			if call.Headers != nil {
				ctx = t.prop.Extract(ctx, propagation.MapCarrier(call.Headers))
			}
			ctx, span := t.tracer.Start(ctx, "rabibridge handle "+call.Function,
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(AttrFunction.String(call.Function), attribute.Bool("rabibridge.redelivered", call.Info.Redelivered)))
			defer span.End()
			resp, err := next(ctx, call)
			end(span, err)
			return resp, err
		}
	}
}

func end(span trace.Span, err error) {
	code := rabibridge.CodeOf(err)
	span.SetAttributes(AttrCode.String(string(code)))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
}
