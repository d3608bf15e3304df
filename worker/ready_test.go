package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestReadyWhenServeFails: the README's start-up pattern, go w.Serve(ctx)
// then <-w.Ready(), must not hang when Serve fails before serving; Err
// says why.
func TestReadyWhenServeFails(t *testing.T) {
	conn := memDial(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	first := registry.New()
	if err := registry.RegisterIn(first, "add", demo.Add, registry.Options{QueueSize: 10}); err != nil {
		t.Fatal(err)
	}
	w1 := worker.New(conn, first, worker.Config{})
	go w1.Serve(ctx)
	<-w1.Ready()
	if err := w1.Err(); err != nil {
		t.Fatalf("the first worker: %v", err)
	}

	// The same queue with another length limit: a declaration conflict.
	second := registry.New()
	if err := registry.RegisterIn(second, "add", demo.Add, registry.Options{QueueSize: 20}); err != nil {
		t.Fatal(err)
	}
	w2 := worker.New(conn, second, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w2.Serve(ctx) }()
	select {
	case <-w2.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("Ready still open 10s after Serve failed")
	}
	is := is.New(t)
	err := w2.Err()
	is.True(err != nil)                           // Err tells a failed start from a ready worker
	is.True(strings.Contains(err.Error(), "add")) // naming the function
	is.Equal(err, <-served)                       // the very error Serve returned
}

// TestErrWhileServing: Err is nil while a worker serves and after it
// drained cleanly.
func TestErrWhileServing(t *testing.T) {
	is := is.New(t)
	conn := memDial(t)
	reg := registry.New()
	is.NoErr(registry.RegisterIn(reg, "add", demo.Add, registry.Options{}))
	w := worker.New(conn, reg, worker.Config{})
	is.NoErr(w.Err()) // before Serve
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	<-w.Ready()
	is.NoErr(w.Err())
	cancel()
	is.NoErr(<-served)
	is.NoErr(w.Err())
}
