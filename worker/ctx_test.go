package worker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type ctxKey struct{}

func newCallCtx(base context.Context, deadline time.Time) *callCtx {
	return &callCtx{Context: base, info: Info{Function: "f", Deadline: deadline}, deadline: deadline}
}

// closed reports whether done is closed, waiting up to d for it.
func closed(done <-chan struct{}, d time.Duration) bool {
	if d == 0 {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestCallCtx checks that a handler's context behaves as the
// context.WithDeadline it stands for, whichever of its methods is asked
// first.
func TestCallCtx(t *testing.T) {
	base := context.WithValue(context.Background(), ctxKey{}, "v")
	soon := func() time.Time { return time.Now().Add(30 * time.Millisecond) }

	t.Run("values and deadline", func(t *testing.T) {
		c := newCallCtx(base, soon())
		defer c.finish()
		if c.Value(ctxKey{}) != "v" {
			t.Error("base's value lost")
		}
		if info, ok := InfoFrom(c); !ok || info.Function != "f" {
			t.Errorf("InfoFrom = %+v, %v", info, ok)
		}
		if d, ok := c.Deadline(); !ok || !d.Equal(c.info.Deadline) {
			t.Errorf("Deadline = %v, %v", d, ok)
		}
		soonest := time.Now().Add(time.Millisecond)
		early, cancel := context.WithDeadline(base, soonest)
		defer cancel()
		c2 := newCallCtx(early, time.Now().Add(time.Hour))
		defer c2.finish()
		if d, _ := c2.Deadline(); !d.Equal(soonest) {
			t.Errorf("Deadline = %v, want base's earlier %v", d, soonest)
		}
	})

	t.Run("Err without Done", func(t *testing.T) {
		c := newCallCtx(base, soon())
		defer c.finish()
		if err := c.Err(); err != nil {
			t.Fatalf("Err before the deadline = %v", err)
		}
		time.Sleep(time.Until(c.info.Deadline) + time.Millisecond)
		if err := c.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Err after the deadline = %v", err)
		}
		if err := context.Cause(c); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Cause after the deadline = %v", err)
		}
		if !closed(c.Done(), 0) {
			t.Error("Done open after Err reported the deadline")
		}
	})

	t.Run("Cause without Err or Done", func(t *testing.T) {
		c := newCallCtx(base, time.Now().Add(-time.Millisecond))
		defer c.finish()
		if err := context.Cause(c); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Cause after the deadline = %v", err)
		}
	})

	t.Run("Done closes at the deadline", func(t *testing.T) {
		c := newCallCtx(base, soon())
		defer c.finish()
		if closed(c.Done(), 0) {
			t.Fatal("Done closed before the deadline")
		}
		if !closed(c.Done(), 5*time.Second) {
			t.Fatal("Done not closed after the deadline")
		}
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v", c.Err())
		}
	})

	t.Run("derived contexts end with it", func(t *testing.T) {
		c := newCallCtx(base, soon())
		defer c.finish()
		child, cancel := context.WithCancel(c)
		defer cancel()
		after := make(chan struct{})
		context.AfterFunc(c, func() { close(after) })
		if !closed(child.Done(), 5*time.Second) || !closed(after, 5*time.Second) {
			t.Fatal("a derived context outlived the deadline")
		}
		if child.Value(ctxKey{}) != "v" {
			t.Error("a derived context lost base's value")
		}
		if _, ok := InfoFrom(child); !ok {
			t.Error("a derived context lost the Info")
		}
	})

	t.Run("base cancelled", func(t *testing.T) {
		for _, waited := range []bool{false, true} {
			b, cancel := context.WithCancel(base)
			c := newCallCtx(b, time.Now().Add(time.Hour))
			var done <-chan struct{}
			if waited {
				done = c.Done()
			}
			cancel()
			if !errors.Is(c.Err(), context.Canceled) {
				t.Errorf("waited %v: Err = %v", waited, c.Err())
			}
			if !closed(c.Done(), 5*time.Second) || (waited && !closed(done, 0)) {
				t.Errorf("waited %v: Done open", waited)
			}
			c.finish()
		}
	})

	t.Run("cancelled when the handler returns", func(t *testing.T) {
		for _, waited := range []bool{false, true} {
			c := newCallCtx(base, time.Now().Add(time.Hour))
			var done <-chan struct{}
			if waited {
				done = c.Done()
			}
			c.finish()
			if !errors.Is(c.Err(), context.Canceled) {
				t.Errorf("waited %v: Err = %v", waited, c.Err())
			}
			if !closed(c.Done(), 0) || (waited && !closed(done, 0)) {
				t.Errorf("waited %v: Done open", waited)
			}
		}
	})

	t.Run("no deadline", func(t *testing.T) {
		b, cancel := context.WithCancel(base)
		c := newCallCtx(b, time.Time{})
		if _, ok := c.Deadline(); ok {
			t.Error("a deadline from nowhere")
		}
		if closed(c.Done(), 0) || c.Err() != nil {
			t.Error("ended before anything ended it")
		}
		cancel()
		if !closed(c.Done(), time.Second) || !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("base cancelled: Err = %v", c.Err())
		}
		c.finish()

		c2 := newCallCtx(base, time.Time{})
		c2.finish()
		if !errors.Is(c2.Err(), context.Canceled) {
			t.Errorf("after finish: Err = %v", c2.Err())
		}
	})

	t.Run("cancelled by the caller", func(t *testing.T) {
		for _, waited := range []bool{false, true} {
			c := newCallCtx(base, time.Now().Add(time.Hour))
			var done <-chan struct{}
			if waited {
				done = c.Done()
			}
			c.cancel()
			if !errors.Is(c.Err(), context.Canceled) {
				t.Errorf("waited %v: Err = %v", waited, c.Err())
			}
			if !closed(c.Done(), 0) || waited && !closed(done, 0) {
				t.Errorf("waited %v: Done open", waited)
			}
			if c.Value(ctxKey{}) != "v" {
				t.Errorf("waited %v: base's value lost", waited)
			}
			c.finish()
		}
	})

	t.Run("concurrent use", func(t *testing.T) {
		c := newCallCtx(base, time.Now().Add(time.Hour))
		var wg sync.WaitGroup
		dones := make([]<-chan struct{}, 8)
		for i := range dones {
			wg.Go(func() {
				_ = c.Err()
				dones[i] = c.Done()
			})
		}
		wg.Go(c.finish)
		wg.Wait()
		for i, d := range dones {
			if d != dones[0] || !closed(d, 0) {
				t.Fatalf("goroutine %d: a Done of its own, or open after finish", i)
			}
		}
	})
}

// BenchmarkCallCtx is a handler's context for a call with a deadline,
// as the worker makes it, against context.WithDeadline.
func BenchmarkCallCtx(b *testing.B) {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	deadline := time.Now().Add(time.Hour)
	b.Run("lazy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := newCallCtx(base, deadline)
			_ = c.Err()
			c.finish()
		}
	})
	b.Run("WithDeadline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := newCallCtx(base, time.Time{})
			ctx, cancel := context.WithDeadline(c, deadline)
			_ = ctx.Err()
			cancel()
		}
	})
}
