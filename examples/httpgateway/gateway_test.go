package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestGateway drives the gateway with httptest against the real broker and
// checks every mapping of an error to a status.
func TestGateway(t *testing.T) {
	url := testbroker.URL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := registry.New()
	release := make(chan struct{})
	for _, err := range []error{
		registry.RegisterIn(reg, "gw_add", demo.Add, registry.Options{Validate: true}),
		registry.RegisterIn(reg, "gw_fail", demo.Fail, registry.Options{}),
		registry.RegisterIn(reg, "gw_sleep", demo.Sleep, registry.Options{}),
		registry.RegisterIn(reg, "gw_busy", func(ctx context.Context, _ int) (int, error) {
			<-release // holds its one consumer until the test ends
			return 0, nil
		}, registry.Options{QueueSize: 1, FetchSize: 1}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	w := worker.New(conn, reg, worker.Config{DrainTimeout: time.Second})
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	defer func() { close(release); cancel(); <-done }()
	<-w.Ready()
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(&Gateway{Caller: c, Timeout: 300 * time.Millisecond})
	defer srv.Close()

	post := func(fn, body string) (int, map[string]any, http.Header) {
		resp, err := http.Post(srv.URL+"/call/"+fn, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}
	// Fill gw_busy: one call held by the worker, one waiting in the queue,
	// made directly with a long deadline so that they stay.
	fill := func(n int) {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, _ = c.Invoke(fctx, "gw_busy", []any{n}, nil)
	}
	go fill(1)
	time.Sleep(100 * time.Millisecond)
	go fill(2)
	time.Sleep(100 * time.Millisecond)

	for _, tc := range []struct {
		name, fn, body string
		status         int
	}{
		{"ok", "gw_add", `{"a": 1, "b": 2}`, http.StatusOK},
		{"positional", "gw_add", `[1, 2]`, http.StatusOK},
		{"invalid argument", "gw_add", `{"a": "x", "b": 2}`, http.StatusBadRequest},
		{"not JSON", "gw_add", `{`, http.StatusBadRequest},
		{"no such function", "gw_nosuch", `{}`, http.StatusNotFound},
		{"deadline", "gw_sleep", `[2000]`, http.StatusGatewayTimeout},
		{"remote failure", "gw_fail", ``, http.StatusBadGateway},
		{"queue full", "gw_busy", `3`, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			status, out, header := post(tc.fn, tc.body)
			is.Equal(status, tc.status)
			if status == http.StatusOK {
				is.Equal(out["result"], float64(3))
			} else {
				is.True(out["error"] != "")
			}
			if status == http.StatusServiceUnavailable {
				is.Equal(header.Get("Retry-After"), "1")
			}
		})
	}
}
