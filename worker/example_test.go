package worker_test

import (
	"context"
	"log"
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
	if err := serveProcs(); err != nil {
		log.Fatal(err)
	}
}

// serveProcs is the README's example of Spawn.
func serveProcs() error {
	// README: spawn
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	child, err := worker.Spawn(ctx, worker.SpawnConfig{Procs: 4, BindCores: true})
	if err != nil || !child {
		return err // the supervisor returns once every worker process has drained
	}
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "amqp://guest:guest@127.0.0.1:5672/"})
	if err != nil {
		return err
	}
	defer conn.Close()
	return worker.New(conn, registry.Default, worker.Config{}).Serve(ctx)
	// README: end
}
