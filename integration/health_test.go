package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestReadinessTracksTheBroker: /readyz follows what the worker can do on
// a node of the test's own: ready; 503 naming the connection within a few
// seconds of the node stopping, while /healthz stays 200; ready again once
// the node is back; 503 naming the function while its queue is deleted,
// until the worker has declared it again.
func TestReadinessTracksTheBroker(t *testing.T) {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URLs: []string{node.URL()},
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: 500 * time.Millisecond, Heartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := registry.New()
	if err := registry.RegisterIn(reg, "add", demo.Add, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{DrainTimeout: 2 * time.Second})
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Shutdown(context.Background())
	srv := httptest.NewServer(w.HealthHandler())
	defer srv.Close()

	probe := func(path string) (int, worker.Health) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h worker.Health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatalf("%s: body: %v", path, err)
		}
		return resp.StatusCode, h
	}
	// waitFor probes /readyz until it answers want, and returns how long that took.
	waitFor := func(what string, want int, within time.Duration) (worker.Health, time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			code, h := probe("/readyz")
			if code == want {
				return h, time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("%s: /readyz answered %d, not %d, for %v: %+v", what, code, want, within, h)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	h, _ := waitFor("started", 200, 5*time.Second)
	if !h.Ready || !h.Connected || len(h.Functions) != 1 || h.Functions[0].Consumers != 1 {
		t.Fatalf("ready worker: %+v", h)
	}

	node.Stop()
	h, took := waitFor("node stopped", 503, 10*time.Second)
	t.Logf("503 %v after the node stopped: %v", took, h.Problems)
	if !strings.Contains(strings.Join(h.Problems, "; "), "no connection to the broker") {
		t.Errorf("problems %q do not name the connection", h.Problems)
	}
	if code, h := probe("/healthz"); code != 200 || !h.Live {
		t.Errorf("/healthz during the outage: %d %+v (the worker reconnects: no reason to restart it)", code, h)
	}

	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	_, took = waitFor("node back", 200, 30*time.Second)
	t.Logf("200 %v after the node was back", took)

	// A deleted queue: the worker declares it again; /readyz says 503
	// until then. The window is short, so watch it from a goroutine.
	saw := make(chan worker.Health, 1)
	watching, stopWatching := context.WithCancel(ctx)
	go func() {
		for watching.Err() == nil {
			if h := w.Health(); !h.Ready {
				saw <- h
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if _, err := node.Ctl("delete_queue", "rpc_async_add"); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-saw:
		if !strings.Contains(strings.Join(h.Problems, "; "), "function add is not consumed") {
			t.Errorf("problems %q do not name the function", h.Problems)
		}
	case <-time.After(5 * time.Second):
		t.Error("the worker never read not ready after its queue was deleted")
	}
	stopWatching()
	waitFor("queue declared again", 200, 10*time.Second)
	if out, _ := node.Ctl("list_queues", "--no-table-headers", "name", "consumers"); !strings.Contains(out, "rpc_async_add") {
		t.Errorf("queue not declared again: %q", out)
	}

	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, h := probe("/healthz"); code != 503 || h.Live {
		t.Errorf("/healthz after Shutdown: %d %+v", code, h)
	}
}
