package redisstore_test

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rabibridge/rabibridge/once/redisstore"
	"github.com/rabibridge/rabibridge/registry"
)

type Shipment struct {
	OrderID string
	Address string
}

// One shipment per order, however often the call is retried or redelivered.
func (s Shipment) IdempotencyKey() string { return s.OrderID }

// ExampleNew makes a function run once per key across a fleet: every
// worker process that serves "ship" shares its records through one Redis.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{
		Addr:        "127.0.0.1:6379",
		ReadTimeout: time.Second, // shorter than the calls' deadlines
	})
	defer rdb.Close()
	_ = registry.Register("ship", func(ctx context.Context, s Shipment) (string, error) {
		return "tracking-" + s.OrderID, nil // book the carrier: once
	}, registry.Options{
		Once:    redisstore.New(rdb),
		OnceTTL: 7 * 24 * time.Hour, // retries come within a week
	})
	// ... worker.New(conn, registry.Default, worker.Config{}).Serve(ctx)
}
