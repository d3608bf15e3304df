package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/testkit/faultproxy"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// The network fault tests put a fault-injecting proxy (internal/testkit/faultproxy)
// between a client and a RabbitMQ node of the test's own, so black holes
// and partitions are tested, not only restarts.

// proxied returns url with its host:port replaced by p's.
func proxied(url string, p *faultproxy.Proxy) string {
	_, port, _ := net.SplitHostPort(p.Addr())
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%s/", port)
}

// dialConn dials cfg and closes the connection in t.Cleanup; it reports
// the connection's states on the channel it returns.
func dialConn(t *testing.T, cfg bridge.Config) (*bridge.Conn, <-chan bridge.State) {
	t.Helper()
	states := make(chan bridge.State, 100)
	cfg.OnStateChange = func(s bridge.State, _ error) {
		select {
		case states <- s:
		default:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := bridge.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, states
}

// serveOn serves reg on conn until the test ends.
func serveOn(t *testing.T, conn *bridge.Conn, reg *registry.Registry, cfg worker.Config) *worker.Worker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := worker.New(conn, reg, cfg)
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("Serve did not return")
		}
	})
	<-w.Ready()
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	return w
}

func newCaller(t *testing.T, conn *bridge.Conn) *caller.Caller {
	t.Helper()
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitState waits up to d for state s.
func waitState(t *testing.T, states <-chan bridge.State, s bridge.State, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case got := <-states:
			if got == s {
				return
			}
		case <-timeout:
			t.Fatalf("no %q state within %v", s, d)
		}
	}
}

// callsUntilOK calls f until it succeeds, up to d.
func callsUntilOK(t *testing.T, d time.Duration, f func(ctx context.Context) error) {
	t.Helper()
	end := time.Now().Add(d)
	var err error
	for time.Now().Before(end) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = f(ctx)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no successful call within %v: %v", d, err)
}

func blobRegistry(t *testing.T) *registry.Registry {
	reg := registry.New()
	err := registry.RegisterIn(reg, "blob", func(_ context.Context, b []byte) (int, error) { return len(b), nil }, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestBlackHole (issue 18, item 1): the caller's path to the broker stalls
// with large calls in flight. Every call returns by its deadline (plus a
// scheduling margin), the stall guard ends the connection within the
// heartbeat interval, and calls succeed again once the path moves.
func TestBlackHole(t *testing.T) {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	before := runtime.NumGoroutine()
	var heap []uint64 // after each fault
	for _, dir := range []struct {
		name string
		d    faultproxy.Direction
	}{{"up", faultproxy.Up}, {"both", faultproxy.Both}, {"down", faultproxy.Down}} {
		t.Run(dir.name, func(t *testing.T) {
			wconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
			serveOn(t, wconn, blobRegistry(t), worker.Config{})
			p := faultproxy.Start(t, fmt.Sprintf("127.0.0.1:%d", node.Port))
			cconn, states := dialConn(t, bridge.Config{URL: proxied(node.URL(), p), ReconnectMax: 500 * time.Millisecond})
			c := newCaller(t, cconn)
			body := make([]byte, 256<<10)
			rand.Read(body) // incompressible
			callsUntilOK(t, 10*time.Second, func(ctx context.Context) error {
				_, err := caller.Call[[]byte, int](ctx, c, "blob", body)
				return err
			})

			p.Stall(dir.d)
			const deadline = 3 * time.Second
			var wg sync.WaitGroup
			var mu sync.Mutex
			var late []time.Duration
			var wrong []error
			for range 50 {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), deadline)
					defer cancel()
					start := time.Now()
					_, err := caller.Call[[]byte, int](ctx, c, "blob", body)
					took := time.Since(start)
					mu.Lock()
					defer mu.Unlock()
					if took > deadline+time.Second {
						late = append(late, took)
					}
					if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, rabibridge.ErrConnectionLost) {
						wrong = append(wrong, err)
					}
				})
			}
			wg.Wait()
			if len(late) > 0 {
				t.Errorf("%d of 50 calls returned past their deadline of %v: %v", len(late), deadline, late)
			}
			if len(wrong) > 0 {
				t.Errorf("%d calls ended otherwise than by their deadline or the lost connection: %v", len(wrong), wrong[0])
			}
			if dir.d&faultproxy.Up != 0 {
				// Writes are stuck: the guard ends the connection.
				waitState(t, states, bridge.StateDisconnected, 10*time.Second)
			}
			p.Resume()
			callsUntilOK(t, 30*time.Second, func(ctx context.Context) error {
				_, err := caller.Call[[]byte, int](ctx, c, "blob", body)
				return err
			})
		})
		heap = append(heap, heapInUse())
	}
	if after := settledGoroutines(before + 5); after > before+5 {
		t.Errorf("goroutines: %d before, %d after the faults", before, after)
	}
	// 50 calls of 256 KiB went through each stall: none of their bodies may
	// stay behind (the first fault's figure includes what is made once,
	// such as the zstd encoder's history).
	t.Logf("goroutines: %d before; heap in use after each fault: %v bytes", before, heap)
	if len(heap) == 3 && heap[2] > heap[0]+8<<20 {
		t.Errorf("heap in use after each fault: %d, %d, %d MiB", heap[0]>>20, heap[1]>>20, heap[2]>>20)
	}
}

// heapInUse is the heap in use after collections enough to empty the
// sync.Pools (bufpool's among them).
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// deleteQueue deletes queue q on the node at url, as an operator or a
// peer's ReRegister would.
func deleteQueue(t *testing.T, url, q string) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete(q, false, false, false); err != nil {
		t.Fatal(err)
	}
}

// TestQueueDeletedUnderWorker (issue 18, items 2 and 8): a function's
// queue is deleted while its worker runs 50 of its calls. The handlers'
// replies still reach their callers, the worker declares the queue again
// and serves on, and its other function never notices.
func TestQueueDeletedUnderWorker(t *testing.T) {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	before := runtime.NumGoroutine()
	reg := registry.New()
	running := make(chan struct{}, 100)
	slow := func(ctx context.Context, ms int) (int, error) {
		running <- struct{}{}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return ms, nil
	}
	if err := registry.RegisterIn(reg, "slow", slow, registry.Options{FetchSize: 100}); err != nil {
		t.Fatal(err)
	}
	if err := registry.RegisterIn(reg, "twice", func(_ context.Context, n int) (int, error) { return 2 * n, nil }, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	func() {
		wconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
		w := worker.New(wconn, reg, worker.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- w.Serve(ctx) }()
		<-w.Ready()
		if err := w.Err(); err != nil {
			t.Fatal(err)
		}
		cconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
		c := newCaller(t, cconn)
		defer func() { c.Close(); cconn.Close(); wconn.Close() }()

		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if got, err := caller.Call[int, int](ctx, c, "slow", 500); err != nil || got != 500 {
					errs <- fmt.Errorf("got %d, %w", got, err)
				}
			})
		}
		for range 50 {
			<-running // every handler runs
		}
		deleteQueue(t, node.URL(), protocol.QueueName("async", "slow"))
		wg.Wait()
		close(errs)
		n := 0
		for err := range errs {
			if n++; n == 1 {
				t.Errorf("a call whose handler finished: %v", err)
			}
		}
		if n > 0 {
			t.Errorf("%d of 50 calls whose handlers finished got no reply", n)
		}
		select {
		case err := <-served:
			t.Fatalf("Serve returned when one queue was deleted: %v", err)
		default:
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel2()
		if got, err := caller.Call[int, int](ctx2, c, "twice", 21); err != nil || got != 42 {
			t.Errorf("the other function: %d, %v", got, err)
		}
		callsUntilOK(t, 10*time.Second, func(ctx context.Context) error {
			_, err := caller.Call[int, int](ctx, c, "slow", 1)
			return err
		})
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	if after := settledGoroutines(before + 5); after > before+5 {
		t.Errorf("goroutines: %d before, %d after", before, after)
	}
}

// TestBlockedBroker (issue 18, items 4 and 11): a memory alarm blocks the
// broker's publishers. A call fails by its deadline saying so, and Close
// and a worker's drain end within their own timeouts, saying why, instead
// of waiting for the alarm to clear.
func TestBlockedBroker(t *testing.T) {
	t.Parallel()
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	reg := registry.New()
	started := make(chan struct{}, 10)
	slow := func(ctx context.Context, ms int) (int, error) {
		started <- struct{}{}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return ms, nil
	}
	if err := registry.RegisterIn(reg, "slow", slow, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	wconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
	w := worker.New(wconn, reg, worker.Config{DrainTimeout: 2 * time.Second})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	<-w.Ready()
	cconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
	c := newCaller(t, cconn)
	callsUntilOK(t, 10*time.Second, func(ctx context.Context) error {
		_, err := caller.Call[int, int](ctx, c, "slow", 1)
		<-started
		return err
	})

	// A call under way when the alarm starts: its reply blocks the worker.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		caller.Call[int, int](ctx, c, "slow", 4000)
	}()
	<-started
	handlerEnds := time.Now().Add(4 * time.Second)
	if _, err := node.Ctl("set_vm_memory_high_watermark", "0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Ctl("set_vm_memory_high_watermark", "0.4") })
	time.Sleep(time.Until(handlerEnds) + 500*time.Millisecond) // the alarm is raised; the reply is held

	// A call now: it ends by its deadline, and says the broker blocks.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	start := time.Now()
	_, err := caller.Call[int, int](ctx2, c, "slow", 1)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a call took %v with a 2s deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, rabibridge.ErrConnectionLost) {
		t.Errorf("a call while blocked: %v, want the deadline and the lost connection (blocked)", err)
	}

	bound := 2*time.Second + 5*time.Second + 3*time.Second // drain, one close exchange, a margin
	start = time.Now()
	stop()
	select {
	case err := <-served:
		t.Logf("Serve after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if err == nil {
			t.Error("Serve returned nil after a drain the blocked broker cut short")
		}
	case <-time.After(bound):
		t.Fatalf("the drain took over %v", bound)
	}
	for name, close := range map[string]func() error{"caller": c.Close, "caller's connection": cconn.Close, "worker's connection": wconn.Close} {
		start := time.Now()
		err := close()
		took := time.Since(start)
		t.Logf("%s Close after %v: %v", name, took.Round(time.Millisecond), err)
		if took > 8*time.Second {
			t.Errorf("%s Close took %v", name, took)
		}
	}
}

// TestPartitionedWorker (issue 18, item 9): the only worker of a function
// is cut off from the broker (its path black-holed both ways, default
// heartbeats) until the broker gives up on it and its queue goes. Callers
// meanwhile see the function missing as retryable, never as final, and
// are served again once the path comes back.
func TestPartitionedWorker(t *testing.T) {
	t.Parallel()
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	reg := registry.New()
	if err := registry.RegisterIn(reg, "twice", func(_ context.Context, n int) (int, error) { return 2 * n, nil }, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	p := faultproxy.Start(t, fmt.Sprintf("127.0.0.1:%d", node.Port))
	wconn, _ := dialConn(t, bridge.Config{URL: proxied(node.URL(), p)})
	serveOn(t, wconn, reg, worker.Config{})
	cconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
	c := newCaller(t, cconn)
	call := func(ctx context.Context) error {
		_, err := caller.Call[int, int](ctx, c, "twice", 1)
		return err
	}
	callsUntilOK(t, 10*time.Second, call)

	p.Stall(faultproxy.Both)
	start := time.Now()
	var missing, final int
	for end := start.Add(60 * time.Second); time.Now().Before(end) && missing < 20; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := call(ctx)
		cancel()
		if errors.Is(err, rabibridge.ErrNoSuchFunction) {
			if missing++; missing == 1 {
				t.Logf("the function is missing %v into the partition", time.Since(start).Round(time.Second))
			}
			if !rabibridge.Retryable(err) {
				final++
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if missing == 0 {
		t.Fatal("the broker never dropped the partitioned worker's queue")
	}
	if final > 0 {
		t.Errorf("%d of %d calls saw the partitioned worker's function missing as final (not retryable)", final, missing)
	}
	p.Resume()
	callsUntilOK(t, 30*time.Second, call)
}

// TestOversizedBodies (issue 18, item 6): on a node whose
// max_message_size is 1 MiB, a call over it fails at once with
// ErrTooLarge (not retryable), and a reply over it comes back as a clear
// error; the calls beside them are untouched.
func TestOversizedBodies(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	node := testbroker.StartNode(t, testbroker.NodeOptions{Config: fmt.Sprintf("max_message_size = %d\n", limit)})
	reg := registry.New()
	err := registry.RegisterIn(reg, "grow", func(_ context.Context, n int) ([]byte, error) {
		b := make([]byte, n)
		rand.Read(b) // incompressible
		return b, nil
	}, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := registry.RegisterIn(reg, "size", func(_ context.Context, b []byte) (int, error) { return len(b), nil }, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	cfg := bridge.Config{URL: node.URL(), MaxMessageSize: limit}
	wconn, _ := dialConn(t, cfg)
	serveOn(t, wconn, reg, worker.Config{})
	cconn, _ := dialConn(t, cfg)
	c := newCaller(t, cconn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	neighbours := make(chan error, 20)
	for range 20 { // calls in flight beside the oversized ones
		wg.Go(func() {
			n, err := caller.Call[int, []byte](ctx, c, "grow", 1000)
			if err == nil && len(n) != 1000 {
				err = fmt.Errorf("got %d bytes", len(n))
			}
			neighbours <- err
		})
	}
	big := make([]byte, 2*limit)
	rand.Read(big)
	_, err = caller.Call[[]byte, int](ctx, c, "size", big)
	if !errors.Is(err, rabibridge.ErrTooLarge) || rabibridge.Retryable(err) {
		t.Errorf("a call over the limit: %v, want ErrTooLarge, not retryable", err)
	}
	_, err = caller.Call[int, []byte](ctx, c, "grow", 2*limit)
	var re *rabibridge.RemoteError
	if !errors.As(err, &re) || re.Code != rabibridge.CodeFailedPrecondition || rabibridge.Retryable(err) {
		t.Errorf("a reply over the limit: %v, want a failed_precondition remote error", err)
	}
	wg.Wait()
	close(neighbours)
	for err := range neighbours {
		if err != nil {
			t.Errorf("a call beside the oversized ones: %v", err)
		}
	}
	if n, err := caller.Call[[]byte, int](ctx, c, "size", big[:limit/2]); err != nil || n != limit/2 {
		t.Errorf("a call under the limit after them: %d, %v", n, err)
	}
}

// TestConsumerTimeout (issue 18, item 7): a handler that would run past
// the broker's consumer_timeout is stopped just before it, and its caller
// gets a clear error, instead of the broker taking the call back and
// handing it out again and again.
func TestConsumerTimeout(t *testing.T) {
	t.Parallel()
	node := testbroker.StartNode(t, testbroker.NodeOptions{Config: "consumer_timeout = 3000\n"})
	reg := registry.New()
	var runs atomic.Int32
	long := func(ctx context.Context, ms int) (int, error) {
		runs.Add(1)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return ms, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err := registry.RegisterIn(reg, "long", long, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	wconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
	serveOn(t, wconn, reg, worker.Config{ConsumerTimeout: 3 * time.Second})
	cconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
	c := newCaller(t, cconn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := caller.Call[int, int](ctx, c, "long", 15000)
	var re *rabibridge.RemoteError
	if !errors.As(err, &re) || re.Code != rabibridge.CodeDeadlineExceeded || !strings.Contains(re.Message, "consumer_timeout") {
		t.Errorf("a call past the consumer timeout: %v, want deadline_exceeded naming consumer_timeout", err)
	}
	t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if n, err := caller.Call[int, int](ctx, c, "long", 10); err != nil || n != 10 {
		t.Errorf("a short call after it: %d, %v", n, err)
	}
	time.Sleep(4 * time.Second) // long enough for a redelivery
	if n := runs.Load(); n != 2 {
		t.Errorf("the handler ran %d times, want once for each call", n)
	}
}

// TestResetAndRefuse: the path to the broker resets every connection under
// load, then refuses new ones for 3 s. Every call ends by its deadline,
// with its result or a retryable error, and calls succeed again within a
// few seconds of the path's return.
func TestResetAndRefuse(t *testing.T) {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	before := runtime.NumGoroutine()
	func() {
		p := faultproxy.Start(t, fmt.Sprintf("127.0.0.1:%d", node.Port))
		reg := registry.New()
		if err := registry.RegisterIn(reg, "echo", func(_ context.Context, n int) (int, error) { return n, nil }, registry.Options{}); err != nil {
			t.Fatal(err)
		}
		cfg := bridge.Config{URL: proxied(node.URL(), p), ReconnectMin: 50 * time.Millisecond, ReconnectMax: time.Second}
		wconn, _ := dialConn(t, cfg)
		defer wconn.Close()
		serveOn(t, wconn, reg, worker.Config{})
		var callers []*caller.Caller
		for range 2 {
			conn, _ := dialConn(t, cfg)
			defer conn.Close()
			c := newCaller(t, conn)
			defer c.Close()
			callers = append(callers, c)
		}
		l := runLoad(callers, nil, 20)
		time.Sleep(time.Second)
		for range 2 {
			p.Reset()
			l.firstOK.Store(0)
			t.Logf("serving again %v after a reset", l.waitServing(t, time.Now(), 10*time.Second).Round(time.Millisecond))
		}
		p.Refuse(true)
		p.Reset()
		time.Sleep(3 * time.Second)
		l.firstOK.Store(0)
		p.Refuse(false)
		t.Logf("serving again %v after 3 s of refused connections", l.waitServing(t, time.Now(), 10*time.Second).Round(time.Millisecond))
		l.finish(t)
		l.stop()
	}()
	if after := settledGoroutines(before + 5); after > before+5 {
		t.Errorf("goroutines: %d before, %d after", before, after)
	}
}

// TestSlowLink: a path with 100 ms of latency each way and 1 MiB/s of
// bandwidth is slow, not dead: the stall guard, with a heartbeat of 1 s,
// cuts none of it, and 2 MiB calls arrive whole.
func TestSlowLink(t *testing.T) {
	t.Parallel()
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	wconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
	serveOn(t, wconn, blobRegistry(t), worker.Config{})
	p := faultproxy.Start(t, fmt.Sprintf("127.0.0.1:%d", node.Port))
	cconn, states := dialConn(t, bridge.Config{URL: proxied(node.URL(), p), Heartbeat: time.Second})
	c := newCaller(t, cconn)
	waitState(t, states, bridge.StateConnected, time.Second) // the first
	p.SetLatency(100 * time.Millisecond)
	p.SetBandwidth(1 << 20)
	body := make([]byte, 2<<20)
	rand.Read(body)
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		n, err := caller.Call[[]byte, int](ctx, c, "blob", body)
		cancel()
		if err != nil || n != len(body) {
			t.Fatalf("a 2 MiB call over a slow link: %d, %v", n, err)
		}
	}
	select {
	case s := <-states:
		t.Errorf("the connection went %q on a slow link", s)
	default:
	}
}

// TestWorkerMemoryBound (issue 18, item 6): calls over the worker's
// MaxBodySize (16 MiB by default) are answered invalid_argument without
// being read into memory: four of 64 MiB cost the process far less than
// one of them (amqp091-go alone would have read and grown each whole).
func TestWorkerMemoryBound(t *testing.T) {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	wconn, _ := dialConn(t, bridge.Config{URL: node.URL()})
	serveOn(t, wconn, blobRegistry(t), worker.Config{})
	raw, err := amqp.Dial(node.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ch, err := raw.Channel()
	if err != nil {
		t.Fatal(err)
	}
	replyTo, replies := replyQueue(t, ch)
	body := make([]byte, 64<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 4 {
		err := ch.PublishWithContext(context.Background(), "rpc", "async_blob", true, false,
			amqp.Publishing{Body: body, CorrelationId: fmt.Sprint(i), ReplyTo: replyTo, ContentType: "application/msgpack"})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		select {
		case d := <-replies:
			if d.Headers[protocol.HeaderCode] != string(rabibridge.CodeInvalidArgument) || !bytes.Contains(d.Body, []byte("it was not read")) {
				t.Errorf("reply %s: %v %q", d.CorrelationId, d.Headers, d.Body)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no reply within 60s")
		}
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d MiB while the worker refused 4 calls of 64 MiB", allocated>>20)
	if allocated > 64<<20 {
		t.Errorf("allocated %d MiB while refusing 4 calls of 64 MiB: more than one of them", allocated>>20)
	}
}
