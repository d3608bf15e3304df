package prometheus_test

import (
	"context"
	"fmt"
	"sort"
	"strings"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/observability/prometheus"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	reg := prom.NewRegistry() // prom.DefaultRegisterer in a program
	m, err := prometheus.New(reg)
	if err != nil {
		panic(err)
	}

	// Reconnections count from the states the connection reports.
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://example-prometheus",
		OnStateChange: func(s bridge.State, _ error) { m.ConnectionState(string(s)) }})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fns := registry.New()
	_ = registry.RegisterIn(fns, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil }, registry.Options{})
	w := worker.New(conn, fns, worker.Config{Interceptors: []rabibridge.Interceptor{m.Interceptor()}})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()

	c, err := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{m.Interceptor()}})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for n := range 3 {
		_, _ = caller.Call[int, int](ctx, c, "double", n)
	}
	_, _ = caller.Call[int, int](ctx, c, "triple", 1)

	// What a scrape of /metrics would show, counters only.
	families, _ := reg.Gather()
	var lines []string
	for _, f := range families {
		if !strings.HasSuffix(f.GetName(), "_total") {
			continue
		}
		for _, s := range f.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %v", f.GetName(), strings.Join(labels, ","), s.GetCounter().GetValue()))
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// rabibridge_caller_calls_total{code=not_found,function=triple} 1
	// rabibridge_caller_calls_total{code=ok,function=double} 3
	// rabibridge_caller_no_route_total{function=triple} 1
	// rabibridge_reconnects_total{} 0
	// rabibridge_worker_calls_total{code=ok,function=double} 3
}
