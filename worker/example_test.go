package worker_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

func ExampleWorker_Serve() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "amqp://guest:guest@127.0.0.1:5672/"})
	if err != nil {
		return
	}
	defer conn.Close()
	w := worker.New(conn, registry.Default, worker.Config{
		DrainTimeout: 10 * time.Second,
		Middleware:   []worker.Middleware{worker.Limit(100, 0)}, // at most 100 calls per function at once
	})
	// Serve until SIGINT or SIGTERM, then drain: calls in flight finish and
	// their replies go out.
	_ = w.Serve(ctx)
}

func ExampleSpawn() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	child, err := worker.Spawn(ctx, worker.SpawnConfig{Procs: 4, BindCores: true})
	if err != nil || !child {
		return // the supervisor: every worker process has drained
	}
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "amqp://guest:guest@127.0.0.1:5672/"})
	if err != nil {
		return
	}
	defer conn.Close()
	_ = worker.New(conn, registry.Default, worker.Config{}).Serve(ctx)
}
