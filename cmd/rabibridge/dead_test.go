package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

type order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

// TestDeadLetters: with DeadLetters on, a Send whose handler fails, and
// a call refused as malformed, are kept; `rabibridge dead` lists them with
// their error, code and request; after the handler is fixed, --replay runs
// them and empties the queue; --purge drops what is left. Without
// DeadLetters nothing is kept. On the in-process broker and on RabbitMQ.
func TestDeadLetters(t *testing.T) {
	t.Run("mem", func(t *testing.T) { testDeadLetters(t, "mem://cli-dead") })
	t.Run("rabbitmq", func(t *testing.T) { testDeadLetters(t, testbroker.VHost(t)) })
}

func testDeadLetters(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var fixed atomic.Bool
	shipped := make(chan order, 4)
	reg := registry.New()
	ship := func(ctx context.Context, o order) (bool, error) {
		if !fixed.Load() {
			return false, errors.New("warehouse offline")
		}
		shipped <- o
		return true, nil
	}
	if err := registry.RegisterIn(reg, "ship", ship, registry.Options{DeadLetters: true}); err != nil {
		t.Fatal(err)
	}
	if err := registry.RegisterIn(reg, "shipquiet", ship, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{})
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Shutdown(context.Background())
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if err := caller.Send(ctx, c, "ship", order{ID: "o-1", Qty: 2}); err != nil {
		t.Fatal(err)
	}
	if err := caller.Send(ctx, c, "shipquiet", order{ID: "o-2", Qty: 1}); err != nil {
		t.Fatal(err)
	}
	// Malformed: the caller hears of it, and a copy is kept.
	_, err = c.Invoke(ctx, "ship", nil, map[string]any{"id": "o-3", "qty": "many"})
	if rabibridge.CodeOf(err) != rabibridge.CodeInvalidArgument {
		t.Fatalf("malformed call: %v", err)
	}

	var letters []deadLetter
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, out, errOut := runCLI(t, "dead", "ship", "--json", "--url", url)
		if code != 0 {
			t.Fatalf("dead --json: %d %s", code, errOut)
		}
		letters = nil
		if err := json.Unmarshal([]byte(out), &letters); err != nil {
			t.Fatalf("dead --json: %v: %s", err, out)
		}
		if len(letters) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(letters) != 2 {
		t.Fatalf("%d dead letters, want 2: %+v", len(letters), letters)
	}
	byReason := map[string]deadLetter{}
	for _, l := range letters {
		byReason[l.Reason] = l
		if l.Function != "ship" || time.Since(l.At) > time.Minute || l.At.After(time.Now()) {
			t.Errorf("letter %+v", l)
		}
	}
	failed, malformed := byReason["failed"], byReason["malformed"]
	if failed.Code != "internal" || !strings.Contains(failed.Error, "warehouse offline") {
		t.Errorf("failed letter: %+v", failed)
	}
	if req, _ := json.Marshal(failed.Request); !strings.Contains(string(req), `"o-1"`) {
		t.Errorf("failed letter's request %s", req)
	}
	if malformed.Code != "invalid_argument" || !strings.Contains(malformed.Error, "/qty") {
		t.Errorf("malformed letter: %+v", malformed)
	}

	code, out, _ := runCLI(t, "dead", "ship", "--url", url)
	if code != 0 || !strings.Contains(out, "AGE") || !strings.Contains(out, "warehouse offline") || !strings.Contains(out, "malformed") {
		t.Errorf("dead (table): %d\n%s", code, out)
	}
	code, _, errOut := runCLI(t, "dead", "shipquiet", "--url", url)
	if code != 0 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("dead of a function without dead letters: %d %s", code, errOut)
	}

	// Fixed, replayed: the failed one ships; the malformed one fails
	// again, and is kept again.
	fixed.Store(true)
	code, out, errOut = runCLI(t, "dead", "ship", "--replay", "--url", url)
	if code != 0 || !strings.Contains(out, "replayed 2") {
		t.Fatalf("--replay: %d %s %s", code, out, errOut)
	}
	select {
	case o := <-shipped:
		if o != (order{ID: "o-1", Qty: 2}) {
			t.Errorf("shipped %+v", o)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the replayed call never ran")
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, out, _ = runCLI(t, "dead", "ship", "--json", "--url", url)
		letters = nil
		json.Unmarshal([]byte(out), &letters)
		if len(letters) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(letters) != 1 || letters[0].Reason != "malformed" {
		t.Fatalf("after the replay: %+v", letters)
	}
	code, out, _ = runCLI(t, "dead", "ship", "--purge", "--url", url)
	if code != 0 || !strings.Contains(out, "purged 1") {
		t.Errorf("--purge: %d %s", code, out)
	}
	if _, out, _ = runCLI(t, "dead", "ship", "--url", url); !strings.Contains(out, "no dead letters") {
		t.Errorf("after --purge: %s", out)
	}
}
