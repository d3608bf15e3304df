package worker_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// TestPoisonCall: a call whose workers go away while it runs, again and
// again, runs MaxDeliveries times and is then kept as a dead letter,
// saying so, instead of being delivered again. Each worker starts before
// the last one stops, as in a rolling restart, so that the queue (auto-
// delete, as RabiBridge declares it) stays.
func TestPoisonCall(t *testing.T) {
	t.Run("mem", func(t *testing.T) { testPoisonCall(t, "mem://"+t.Name()) })
	t.Run("rabbitmq", func(t *testing.T) { testPoisonCall(t, testbroker.VHost(t)) })
}

func testPoisonCall(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	release := make(chan struct{}) // the handlers stuck, as in a process that hangs
	defer close(release)
	runs := make(chan int, 8)
	var n atomic.Int32
	start := func() *worker.Worker {
		reg := registry.New()
		err := registry.RegisterIn(reg, "stuck", func(ctx context.Context, x int) (int, error) {
			runs <- int(n.Add(1))
			<-release
			return x, nil
		}, registry.Options{DeadLetters: true, MaxDeliveries: 2})
		if err != nil {
			t.Fatal(err)
		}
		w := worker.New(conn, reg, worker.Config{DrainTimeout: 100 * time.Millisecond})
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return w
	}
	stop := func(w *worker.Worker) {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		w.Shutdown(sctx) // the drain times out: the call goes back to the queue
	}
	waitRun := func(want int) {
		t.Helper()
		select {
		case got := <-runs:
			if got != want {
				t.Fatalf("run %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d never came", want)
		}
	}

	w1 := start()
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := caller.Send(ctx, c, "stuck", 7); err != nil {
		t.Fatal(err)
	}
	waitRun(1)
	w2 := start()
	stop(w1)
	waitRun(2) // delivered again, counted, run again
	w3 := start()
	defer stop(w3)
	stop(w2)

	dead := protocol.DeadQueueName("", "stuck")
	var letters []transport.Message
	for deadline := time.Now().Add(10 * time.Second); len(letters) == 0 && time.Now().Before(deadline); {
		letters, _ = transport.Of(conn).Browse(ctx, dead, 10)
		time.Sleep(20 * time.Millisecond)
	}
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1", len(letters))
	}
	h := letters[0].Headers
	if h[protocol.HeaderDeadReason] != protocol.DeadPoison || !strings.Contains(h[protocol.HeaderDeadError], "delivered 3 times") {
		t.Errorf("dead letter headers %v", h)
	}
	select {
	case n := <-runs:
		t.Errorf("run %d: a third run", n)
	case <-time.After(200 * time.Millisecond):
	}
}
