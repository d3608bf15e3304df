// Package prometheus exports rabibridge's metrics to Prometheus through
// github.com/prometheus/client_golang, over the worker's middleware and the
// caller's interceptors, so the core packages do not depend on Prometheus.
//
//	m, err := prometheus.New(prom.DefaultRegisterer)
//	w := worker.New(conn, reg, worker.Config{Middleware: []worker.Middleware{m.Middleware()}})
//	c, err := caller.New(conn, caller.Config{Interceptors: []caller.Interceptor{m.Interceptor()}})
//	bridge.Config{OnStateChange: func(s bridge.State, _ error) { m.ConnectionState(string(s)) }}
//	http.Handle("/metrics", promhttp.Handler())
package prometheus

import (
	"context"
	"errors"
	"sync"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/worker"
)

// Metrics are rabibridge's collectors.
type Metrics struct {
	workerCalls    *prom.CounterVec
	workerSeconds  *prom.HistogramVec
	workerInFlight *prom.GaugeVec
	callerCalls    *prom.CounterVec
	callerSeconds  *prom.HistogramVec
	queueFull      *prom.CounterVec
	noRoute        *prom.CounterVec
	reconnects     prom.Counter

	lostMu sync.Mutex
	lost   bool
}

// New makes the collectors and registers them with reg.
func New(reg prom.Registerer) (*Metrics, error) {
	m := &Metrics{
		workerCalls: prom.NewCounterVec(prom.CounterOpts{Name: "rabibridge_worker_calls_total",
			Help: "Calls handled, by function and rabibridge code."}, []string{"function", "code"}),
		workerSeconds: prom.NewHistogramVec(prom.HistogramOpts{Name: "rabibridge_worker_handler_seconds",
			Help: "Time handlers take, by function.", Buckets: prom.ExponentialBuckets(0.0001, 4, 10)}, []string{"function"}),
		workerInFlight: prom.NewGaugeVec(prom.GaugeOpts{Name: "rabibridge_worker_in_flight",
			Help: "Calls being handled now, by function."}, []string{"function"}),
		callerCalls: prom.NewCounterVec(prom.CounterOpts{Name: "rabibridge_caller_calls_total",
			Help: "Calls made, by function and rabibridge code."}, []string{"function", "code"}),
		callerSeconds: prom.NewHistogramVec(prom.HistogramOpts{Name: "rabibridge_caller_seconds",
			Help: "Time calls take, from the caller, by function.", Buckets: prom.ExponentialBuckets(0.0001, 4, 10)}, []string{"function"}),
		queueFull: prom.NewCounterVec(prom.CounterOpts{Name: "rabibridge_caller_queue_full_total",
			Help: "Calls refused because the function's queue was full."}, []string{"function"}),
		noRoute: prom.NewCounterVec(prom.CounterOpts{Name: "rabibridge_caller_no_route_total",
			Help: "Calls to a function no queue was bound for."}, []string{"function"}),
		reconnects: prom.NewCounter(prom.CounterOpts{Name: "rabibridge_reconnects_total",
			Help: "Connections to the broker made again after a loss."}),
	}
	for _, c := range []prom.Collector{m.workerCalls, m.workerSeconds, m.workerInFlight, m.callerCalls,
		m.callerSeconds, m.queueFull, m.noRoute, m.reconnects} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Middleware measures the worker's calls.
func (m *Metrics) Middleware() worker.Middleware {
	return func(next worker.Handler) worker.Handler {
		return func(ctx context.Context, call *worker.Call) (any, error) {
			inFlight := m.workerInFlight.WithLabelValues(call.Function)
			inFlight.Inc()
			start := time.Now()
			resp, err := next(ctx, call)
			m.workerSeconds.WithLabelValues(call.Function).Observe(time.Since(start).Seconds())
			inFlight.Dec()
			m.workerCalls.WithLabelValues(call.Function, string(rabibridge.CodeOf(err))).Inc()
			return resp, err
		}
	}
}

// Interceptor measures the caller's calls, counting full queues and missing
// functions apart.
func (m *Metrics) Interceptor() caller.Interceptor {
	return func(next caller.Invoker) caller.Invoker {
		return func(ctx context.Context, inv *caller.Invocation) error {
			start := time.Now()
			err := next(ctx, inv)
			m.callerSeconds.WithLabelValues(inv.Function).Observe(time.Since(start).Seconds())
			m.callerCalls.WithLabelValues(inv.Function, string(rabibridge.CodeOf(err))).Inc()
			switch {
			case errors.Is(err, rabibridge.ErrQueueFull):
				m.queueFull.WithLabelValues(inv.Function).Inc()
			case errors.Is(err, rabibridge.ErrNoSuchFunction):
				m.noRoute.WithLabelValues(inv.Function).Inc()
			}
			return err
		}
	}
}

// ConnectionState counts reconnections: pass it every state a connection
// reports (bridge.Config.OnStateChange); the first "connected" is not one.
func (m *Metrics) ConnectionState(state string) {
	m.lostMu.Lock()
	defer m.lostMu.Unlock()
	switch {
	case state == "disconnected":
		m.lost = true
	case state == "connected" && m.lost:
		m.reconnects.Inc()
		m.lost = false
	}
}
