// Package otel traces rabibridge calls with OpenTelemetry: W3C trace
// context travels in the call's AMQP headers from caller to worker, and each
// side makes a span per call with the function's name and the call's code.
// It works through one interceptor that serves workers and callers alike,
// so the core packages do not depend on OpenTelemetry.
//
//	t := otel.New(otel.Config{}) // the global TracerProvider and propagator
//	w := worker.New(conn, reg, worker.Config{Interceptors: []rabibridge.Interceptor{t.Interceptor()}})
//	c, err := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{t.Interceptor()}})
package otel

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rabibridge/rabibridge"
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

// Interceptor traces calls. In a caller (caller.Config.Interceptors) it
// starts a client span per call and sends its context in the call's
// headers; in a worker (worker.Config.Interceptors) it continues the
// caller's trace in a server span per call. One Tracing may serve both.
func (t *Tracing) Interceptor() rabibridge.Interceptor {
	return func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, call *rabibridge.Call) error {
			if call.Worker {
				return t.served(ctx, call, next)
			}
			ctx, span := t.tracer.Start(ctx, "rabibridge call "+call.Function,
				trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(AttrFunction.String(call.Function), attribute.String("messaging.system", "rabbitmq")))
			defer span.End()
			if call.Headers == nil {
				call.Headers = map[string]string{}
			}
			t.prop.Inject(ctx, propagation.MapCarrier(call.Headers))
			err := next(ctx, call)
			end(span, err)
			return err
		}
	}
}

// served continues the caller's trace in a server span.
func (t *Tracing) served(ctx context.Context, call *rabibridge.Call, next rabibridge.Next) error {
	if call.Headers != nil {
		ctx = t.prop.Extract(ctx, propagation.MapCarrier(call.Headers))
	}
	info, _ := worker.InfoFrom(ctx)
	ctx, span := t.tracer.Start(ctx, "rabibridge handle "+call.Function,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(AttrFunction.String(call.Function), attribute.Bool("rabibridge.redelivered", info.Redelivered)))
	defer span.End()
	err := next(ctx, call)
	end(span, err)
	return err
}

func end(span trace.Span, err error) {
	code := rabibridge.CodeOf(err)
	span.SetAttributes(AttrCode.String(string(code)))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
}
