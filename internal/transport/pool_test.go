package transport

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gauge counts handlers running and the most that ran at once.
type gauge struct {
	now, most atomic.Int32
}

func (g *gauge) in() {
	n := g.now.Add(1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			return
		}
	}
}

func (g *gauge) out() { g.now.Add(-1) }

func servePool(o ConsumeOptions, h func(*Delivery)) (src chan int, stop chan struct{}, l *live, ended chan struct{}) {
	src, stop, l, ended = make(chan int), make(chan struct{}), new(live), make(chan struct{})
	serve(o.withDefaults(), l, h, source[int]{ch: src, stop: stop, conv: func(n int) *Delivery { return &Delivery{tag: uint64(n)} }, ended: func() { close(ended) }})
	return src, stop, l, ended
}

func within(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Slow handlers run side by side, as many as Concurrency and no more.
func TestPoolSlowHandlersRunSideBySide(t *testing.T) {
	var g gauge
	release := make(chan struct{})
	src, _, l, ended := servePool(ConsumeOptions{Concurrency: 4}, func(*Delivery) {
		g.in()
		<-release
		g.out()
	})
	sent := make(chan struct{})
	go func() {
		for i := range 6 {
			src <- i
		}
		close(sent)
	}()
	within(t, 10*time.Second, "4 handlers running", func() bool { return g.now.Load() == 4 })
	select {
	case <-sent:
		t.Fatal("a fifth call was taken while four ran with Concurrency 4")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-sent
	close(src)
	<-ended
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.wait(ctx); err != nil {
		t.Fatalf("Wait after the source ended: %v", err)
	}
	if m := g.most.Load(); m != 4 {
		t.Fatalf("at most %d ran at once, want 4", m)
	}
}

// Wait waits for the handlers under way, and gives up when its ctx ends.
func TestPoolWait(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	src, _, l, ended := servePool(ConsumeOptions{}, func(*Delivery) {
		close(started)
		<-release
	})
	src <- 1
	<-started
	close(src)
	<-ended
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.wait(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Wait with a handler running: %v, want DeadlineExceeded", err)
	}
	close(release)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := l.wait(ctx2); err != nil {
		t.Fatalf("Wait after the handler returned: %v", err)
	}
}

// Closing stop ends the goroutines without taking what the source holds.
func TestPoolStop(t *testing.T) {
	var ran atomic.Int32
	o := ConsumeOptions{Prefetch: 4}
	src, stop, l, ended := make(chan int, 4), make(chan struct{}), new(live), make(chan struct{})
	serve(o.withDefaults(), l, func(*Delivery) { ran.Add(1) }, source[int]{ch: src, stop: stop, conv: func(n int) *Delivery { return &Delivery{} }, ended: func() { close(ended) }})
	src <- 1
	within(t, 10*time.Second, "the first call ran", func() bool { return ran.Load() == 1 })
	close(stop)
	<-ended
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.wait(ctx); err != nil {
		t.Fatal(err)
	}
	src <- 2
	time.Sleep(20 * time.Millisecond)
	if ran.Load() != 1 {
		t.Fatal("a call ran after stop")
	}
}

// Goroutines started for a burst of slow calls go again once idle, down to
// the one that waits on the source; quick calls after that still run.
func TestPoolIdleGoroutinesExit(t *testing.T) {
	var g gauge
	var mu sync.Mutex
	block := true
	release := make(chan struct{})
	src, _, l, _ := servePool(ConsumeOptions{Concurrency: 8, IdleTimeout: 50 * time.Millisecond}, func(*Delivery) {
		g.in()
		defer g.out()
		mu.Lock()
		b := block
		mu.Unlock()
		if b {
			<-release
		}
	})
	go func() {
		for i := range 8 {
			src <- i
		}
	}()
	within(t, 10*time.Second, "8 handlers running", func() bool { return g.now.Load() == 8 })
	mu.Lock()
	block = false
	mu.Unlock()
	close(release)
	count := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.n
	}
	within(t, 10*time.Second, "idle goroutines gone", func() bool { return count() == 1 })
	for i := range 100 {
		src <- i // quick calls are still taken
	}
	close(src)
}
