package once_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/once"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// Charge is a request that names its call's key: a caller that retries a
// charge sends the same ID, and the card is charged once.
type Charge struct {
	ID    string
	Cents int
}

func (c Charge) IdempotencyKey() string { return c.ID }

// Example makes a function run once per key. The second call, a retry,
// gets the first run's receipt; the handler ran once.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	conn, _ := bridge.Dial(ctx, bridge.Config{URL: "mem://example-once"}) // or amqp://...
	defer conn.Close()

	var runs atomic.Int64
	reg := registry.New()
	_ = registry.RegisterIn(reg, "charge", func(ctx context.Context, c Charge) (string, error) {
		return fmt.Sprintf("receipt %d for %s: %d cents", runs.Add(1), c.ID, c.Cents), nil
	}, registry.Options{
		Once:    once.NewMemory(), // one process; once/redisstore for a fleet
		OnceTTL: time.Hour,        // how long a result is remembered
	})
	w := worker.New(conn, reg, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()

	c, _ := caller.New(conn, caller.Config{})
	defer c.Close()
	for range 2 {
		r, err := caller.Call[Charge, string](ctx, c, "charge", Charge{ID: "order-17", Cents: 990})
		fmt.Println(r, err)
	}
	fmt.Println("runs:", runs.Load())
	// Output:
	// receipt 1 for order-17: 990 cents <nil>
	// receipt 1 for order-17: 990 cents <nil>
	// runs: 1
}

// ExampleStore shows the one operation a Store has: a compare-and-swap,
// here on the memory store. A store of your own (a SQL table, say, where
// Swap is an UPDATE ... WHERE value = old) needs only this method. A nil old swaps only if the key holds
// nothing; what Swap returns equals old exactly when it swapped.
func ExampleStore() {
	var s once.Store = once.NewMemory()
	ctx := context.Background()
	held, _ := s.Swap(ctx, "k", nil, []byte("claim"), time.Minute)
	fmt.Printf("%q\n", held) // nothing was there: swapped
	held, _ = s.Swap(ctx, "k", nil, []byte("other claim"), time.Minute)
	fmt.Printf("%q\n", held) // taken: not swapped
	held, _ = s.Swap(ctx, "k", []byte("claim"), []byte("result"), time.Hour)
	fmt.Printf("%q\n", held) // held the claim: swapped
	// Output:
	// ""
	// "claim"
	// "claim"
}
