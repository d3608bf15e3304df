// Package storetest is the behaviour every once.Store must have: the tests
// of the memory store and of the Redis store both run it.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/once"
)

// Run checks s: compare-and-swap on absent and held keys, deletion, expiry,
// and that of many concurrent claims of one key exactly one wins.
func Run(t *testing.T, s once.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := func(name string) string { return fmt.Sprintf("storetest:%08x:%s", rand.Uint32(), name) }
	swap := func(k string, old, value []byte, ttl time.Duration) []byte {
		t.Helper()
		held, err := s.Swap(ctx, k, old, value, ttl)
		if err != nil {
			t.Fatalf("Swap(%q): %v", k, err)
		}
		return held
	}
	want := func(what string, got, want []byte) {
		t.Helper()
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("%s: got %q, want %q", what, got, want)
		}
	}

	k := key("cas")
	want("absent", swap(k, nil, []byte("r1"), time.Minute), nil)
	want("claimed", swap(k, nil, []byte("r2"), time.Minute), []byte("r1"))
	want("wrong old", swap(k, []byte("r2"), []byte("d2"), time.Minute), []byte("r1"))
	want("right old", swap(k, []byte("r1"), []byte("d1"), time.Minute), []byte("r1"))
	want("done", swap(k, nil, []byte("r3"), time.Minute), []byte("d1"))
	want("delete", swap(k, []byte("d1"), nil, 0), []byte("d1"))
	want("deleted", swap(k, nil, []byte("r4"), time.Minute), nil)
	want("deleting with a wrong old", swap(k, []byte("x"), nil, 0), []byte("r4"))
	want("still there", swap(k, nil, []byte("r5"), time.Minute), []byte("r4"))

	k = key("binary")
	v := []byte{0, 1, 2, 0xff, '\n', 0}
	swap(k, nil, v, time.Minute)
	want("binary value", swap(k, nil, []byte("x"), time.Minute), v)

	k = key("expiry")
	swap(k, nil, []byte("r1"), 200*time.Millisecond)
	time.Sleep(400 * time.Millisecond)
	want("expired", swap(k, nil, []byte("r2"), time.Minute), nil)
	want("renewed", swap(k, []byte("r2"), []byte("r2"), 200*time.Millisecond), []byte("r2"))
	time.Sleep(400 * time.Millisecond)
	want("renewed, then expired", swap(k, []byte("r2"), []byte("d"), time.Minute), nil)

	k = key("race")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		wg.Go(func() {
			held, err := s.Swap(ctx, k, nil, []byte(fmt.Sprint("r", i)), time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if held == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of 20 concurrent claims of one key won, want 1", wins)
	}

	done, stop := context.WithCancel(ctx)
	stop()
	if _, err := s.Swap(done, key("cancelled"), nil, []byte("r"), time.Minute); err == nil {
		t.Error("Swap with an ended context succeeded")
	}
}
