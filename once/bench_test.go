package once_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/once"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

type sum struct {
	Key  string
	A, B int
}

func (s sum) IdempotencyKey() string { return s.Key }

// BenchmarkRunOnce is a typed call over mem:// to a plain function (the
// baseline), to a run-once one with the memory store under a new key each
// time (a claim, a run and a record), and under one key (the remembered
// result).
func BenchmarkRunOnce(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://bench-once"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	add := func(ctx context.Context, s sum) (int, error) { return s.A + s.B, nil }
	reg := registry.New()
	if err := registry.RegisterIn(reg, "plain", add, registry.Options{}); err != nil {
		b.Fatal(err)
	}
	if err := registry.RegisterIn(reg, "once", add, registry.Options{Once: once.NewMemory()}); err != nil {
		b.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	<-w.Ready()
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, bc := range []struct {
		name, fn string
		key      func(i int) string
	}{
		{"plain", "plain", func(int) string { return "" }},
		{"new key", "once", strconv.Itoa},
		{"same key", "once", func(int) string { return "k" }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := caller.Call[sum, int](ctx, c, bc.fn, sum{Key: bc.key(i), A: 1, B: 2}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
