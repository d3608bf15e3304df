// Package prometheus exports rabibridge's metrics to Prometheus through
// github.com/prometheus/client_golang, through one interceptor that serves
// workers and callers alike, so the core packages do not depend on
// Prometheus.
//
//	m, err := prometheus.New(prom.DefaultRegisterer)
//	w := worker.New(conn, reg, worker.Config{Interceptors: []rabibridge.Interceptor{m.Interceptor()}})
//	c, err := caller.New(conn, caller.Config{Interceptors: []rabibridge.Interceptor{m.Interceptor()}})
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
	retries        *prom.CounterVec

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
		retries: prom.NewCounterVec(prom.CounterOpts{Name: "rabibridge_caller_retries_total",
			Help: "Calls retried by caller.Retry, by function and the code of the failure retried."}, []string{"function", "code"}),
	}
	for _, c := range []prom.Collector{m.workerCalls, m.workerSeconds, m.workerInFlight, m.callerCalls,
		m.callerSeconds, m.queueFull, m.noRoute, m.reconnects, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Interceptor measures calls: in a worker (worker.Config.Interceptors),
// the calls it serves, their time and how many are in flight; in a caller
// (caller.Config.Interceptors), the calls it makes, counting full queues
// and missing functions apart. One Metrics may serve both.
func (m *Metrics) Interceptor() rabibridge.Interceptor {
	return func(next rabibridge.Next) rabibridge.Next {
		return func(ctx context.Context, call *rabibridge.Call) error {
			if call.Worker {
				return m.served(ctx, call, next)
			}
			start := time.Now()
			err := next(ctx, call)
			m.callerSeconds.WithLabelValues(call.Function).Observe(time.Since(start).Seconds())
			m.callerCalls.WithLabelValues(call.Function, string(rabibridge.CodeOf(err))).Inc()
			switch {
			case errors.Is(err, rabibridge.ErrQueueFull):
				m.queueFull.WithLabelValues(call.Function).Inc()
			case errors.Is(err, rabibridge.ErrNoSuchFunction):
				m.noRoute.WithLabelValues(call.Function).Inc()
			}
			return err
		}
	}
}

// served measures a call a worker serves.
func (m *Metrics) served(ctx context.Context, call *rabibridge.Call, next rabibridge.Next) error {
	inFlight := m.workerInFlight.WithLabelValues(call.Function)
	inFlight.Inc()
	start := time.Now()
	err := next(ctx, call)
	m.workerSeconds.WithLabelValues(call.Function).Observe(time.Since(start).Seconds())
	inFlight.Dec()
	m.workerCalls.WithLabelValues(call.Function, string(rabibridge.CodeOf(err))).Inc()
	return err
}

// Retried counts a retry: pass it as caller.RetryPolicy.OnRetry.
func (m *Metrics) Retried(function string, attempt int, err error) {
	m.retries.WithLabelValues(function, string(rabibridge.CodeOf(err))).Inc()
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
