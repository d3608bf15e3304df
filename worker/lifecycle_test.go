package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestStartShutdown: Start returns once the worker serves, Shutdown drains
// the call under way and returns; a second Start or Shutdown says so.
func TestStartShutdown(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	is.NoErr(err)
	defer conn.Close()
	reg := registry.New()
	is.NoErr(registry.RegisterIn(reg, "sleep", demo.Sleep, registry.Options{}))
	w := worker.New(conn, reg, worker.Config{})
	is.NoErr(w.Start(ctx))
	is.True(w.Start(ctx) != nil) // a Worker serves once

	c, err := caller.New(conn, caller.Config{})
	is.NoErr(err)
	defer c.Close()
	ms, err := caller.Call[int, int](ctx, c, "sleep", 1) // served at once: Start waited for the queue
	is.NoErr(err)
	is.Equal(ms, 1)

	done := make(chan error, 1)
	go func() { _, err := caller.Call[int, int](ctx, c, "sleep", 300); done <- err }()
	time.Sleep(100 * time.Millisecond)
	is.NoErr(w.Shutdown(ctx)) // the call under way is answered
	is.NoErr(<-done)
	is.NoErr(w.Shutdown(ctx)) // again: the same
}

// TestStartFails: Start returns the reason a worker cannot serve.
func TestStartFails(t *testing.T) {
	conn, err := bridge.Dial(context.Background(), bridge.Config{URL: "mem://" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := worker.New(conn, registry.New(), worker.Config{})
	if err := w.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "no functions") {
		t.Errorf("Start of an empty registry: %v", err)
	}
	if err := worker.New(conn, registry.New(), worker.Config{}).Shutdown(context.Background()); err == nil {
		t.Error("Shutdown of a worker never started: no error")
	}
}

// TestShutdownDeadline: a handler that outlives Shutdown's deadline is
// cut off there, not at DrainTimeout.
func TestShutdownDeadline(t *testing.T) {
	ctx := context.Background()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := registry.New()
	if err := registry.RegisterIn(reg, "sleep", demo.Sleep, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{DrainTimeout: time.Minute})
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go caller.Call[int, int](ctx, c, "sleep", 30_000)
	time.Sleep(100 * time.Millisecond)
	sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = w.Shutdown(sctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %v with a 500ms deadline and a one-minute DrainTimeout", took)
	}
	if err == nil {
		t.Error("Shutdown cut a handler off and said nothing")
	}
}
