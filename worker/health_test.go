package worker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestHealthHandler: the probes through a worker's life: not ready and not
// live before Start; both after; ready no more once its queue is gone (the
// in-process broker does not declare it again), live no more once Shutdown
// has returned. Every answer is JSON naming what is wrong.
func TestHealthHandler(t *testing.T) {
	ctx := context.Background()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := registry.New()
	if err := registry.RegisterIn(reg, "add", demo.Add, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{Consumers: 2})
	mux := http.NewServeMux()
	mux.Handle("/readyz", w.HealthHandler())
	mux.Handle("/healthz", w.HealthHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	check := func(path string, want int, problem string) worker.Health {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h worker.Health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d: %+v", path, resp.StatusCode, want, h)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: content type %q", path, ct)
		}
		if got := strings.Join(h.Problems, "; "); !strings.Contains(got, problem) {
			t.Errorf("%s: problems %q, want one with %q", path, got, problem)
		}
		return h
	}
	check("/readyz", 503, "not started")
	check("/healthz", 503, "not started")

	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h := check("/readyz", 200, "")
	if !h.Ready || !h.Live || !h.Connected || len(h.Problems) != 0 {
		t.Errorf("serving: %+v", h)
	}
	if len(h.Functions) != 1 || h.Functions[0] != (worker.FunctionHealth{Name: "add", Consumers: 2, Want: 2}) {
		t.Errorf("functions: %+v", h.Functions)
	}
	check("/healthz", 200, "")

	if err := transport.Of(conn).DeleteQueue(ctx, "rpc_async_add"); err != nil {
		t.Fatal(err)
	}
	check("/readyz", 503, "function add is not consumed (0 of 2 consumers attached)")

	w.Shutdown(ctx) // its subscriptions ended: Shutdown says so
	check("/healthz", 503, "stopped")
	check("/readyz", 503, "stopped")

	rec := httptest.NewRecorder()
	w.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("/metrics: %d", rec.Code)
	}
}
