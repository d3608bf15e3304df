package prometheus_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/matryer/is"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/observability/prometheus"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestMetrics makes a few calls and scrapes /metrics.
func TestMetrics(t *testing.T) {
	is := is.New(t)
	reg := prom.NewRegistry()
	m, err := prometheus.New(reg)
	is.NoErr(err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	is.NoErr(err)
	defer conn.Close()
	fns := registry.New()
	is.NoErr(demo.Register(fns, registry.Options{QueueSize: 1, FetchSize: 1}))
	w := worker.New(conn, fns, worker.Config{Interceptors: []rabibridge.Interceptor{m.Interceptor()}})
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	<-w.Ready()
	c, err := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{m.Interceptor()}})
	is.NoErr(err)
	defer c.Close()
	for i := range 3 {
		_, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: i})
		is.NoErr(err)
	}
	_, err = c.Invoke(ctx, "fail", nil, nil)
	is.True(err != nil)
	_, err = c.Invoke(ctx, "nosuch", nil, nil)
	is.True(err != nil)
	m.Retried("add", 2, rabibridge.Errorf(rabibridge.CodeUnavailable, "draining"))
	for _, s := range []string{"disconnected", "connected", "connected"} {
		m.ConnectionState(s)
	}

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	is.NoErr(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`rabibridge_worker_calls_total{code="ok",function="add"} 3`,
		`rabibridge_worker_calls_total{code="internal",function="fail"} 1`,
		`rabibridge_worker_in_flight{function="add"} 0`,
		`rabibridge_worker_handler_seconds_count{function="add"} 3`,
		`rabibridge_caller_calls_total{code="ok",function="add"} 3`,
		`rabibridge_caller_calls_total{code="internal",function="fail"} 1`,
		`rabibridge_caller_calls_total{code="not_found",function="nosuch"} 1`,
		`rabibridge_caller_no_route_total{function="nosuch"} 1`,
		`rabibridge_reconnects_total 1`,
		`rabibridge_caller_retries_total{code="unavailable",function="add"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
