package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// The fault tests run on RabbitMQ nodes of their own, never on the shared
// broker, since they stop, restart and cut them.

const callDeadline = 5 * time.Second

// link follows the state of a caller's connection, for the calls on it.
type link struct {
	down   atomic.Bool  // lost, and not connected again yet
	losses atomic.Int64 // how many times it was lost
}

func (k *link) observe(s bridge.State) {
	switch s {
	case bridge.StateConnected:
		k.down.Store(false)
	case bridge.StateDisconnected:
		k.losses.Add(1)
		k.down.Store(true)
	}
}

// outage reports whether the connection was down at some time since a
// call began, when it was down or had been lost losses times.
func (k *link) outage(wasDown bool, losses int64) bool {
	return k != nil && (wasDown || k.down.Load() || k.losses.Load() != losses)
}

// load is callers × concurrent loops of calls, with what came of them.
type load struct {
	ok, lost, other atomic.Int64
	// late counts the calls that ran out of time while their connection
	// was down: one that started during an outage, waited for the
	// connection, and was published too near its deadline for the reply
	// to come in time. Its deadline error is what the caller asked for;
	// any other call that fails so counts as other.
	late    atomic.Int64
	slowest atomic.Int64 // ns past its deadline of the slowest call
	mu      sync.Mutex
	others  []error
	otherAt []string // when each of others started, and on which caller
	t0      time.Time
	lastOK  atomic.Int64 // unix ns of the latest success
	firstOK atomic.Int64 // unix ns of the first success since firstOK was last zeroed
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// runLoad starts len(callers) × per loops that call echo until stopped.
// links, when not nil, follow the callers' connections (see load.late).
func runLoad(callers []*caller.Caller, links []*link, per int) *load {
	l := &load{t0: time.Now()}
	ctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	for ci, c := range callers {
		var k *link
		if links != nil {
			k = links[ci]
		}
		for range per {
			l.wg.Go(func() {
				for ctx.Err() == nil {
					cctx, cancel := context.WithTimeout(context.Background(), callDeadline)
					var wasDown bool
					var losses int64
					if k != nil {
						wasDown, losses = k.down.Load(), k.losses.Load()
					}
					start := time.Now()
					_, err := caller.Call[int, int](cctx, c, "echo", 7)
					cancel()
					if over := time.Since(start) - callDeadline; over > 0 && int64(over) > l.slowest.Load() {
						l.slowest.Store(int64(over))
					}
					switch {
					case err == nil:
						l.ok.Add(1)
						now := time.Now().UnixNano()
						l.lastOK.Store(now)
						l.firstOK.CompareAndSwap(0, now)
					case errors.Is(err, rabibridge.ErrConnectionLost):
						l.lost.Add(1) // retryable
						time.Sleep(20 * time.Millisecond)
					case errors.Is(err, context.DeadlineExceeded) && k.outage(wasDown, losses):
						l.late.Add(1)
					default:
						l.other.Add(1)
						l.mu.Lock()
						if len(l.others) < 5 {
							l.others = append(l.others, err)
						}
						if len(l.otherAt) < 200 {
							l.otherAt = append(l.otherAt, fmt.Sprintf("caller %d at %.2fs", ci, start.Sub(l.t0).Seconds()))
						}
						l.mu.Unlock()
						time.Sleep(20 * time.Millisecond)
					}
				}
			})
		}
	}
	return l
}

// compactTimes folds repeats of the same entry into one with a count.
func compactTimes(at []string) string {
	var b strings.Builder
	for i := 0; i < len(at); {
		j := i
		for j < len(at) && at[j] == at[i] {
			j++
		}
		fmt.Fprintf(&b, "%s ×%d; ", at[i], j-i)
		i = j
	}
	return b.String()
}

// watchPort sends the first time 127.0.0.1:port accepts a connection,
// polling every 10 ms for up to two minutes.
func watchPort(port int) <-chan time.Time {
	at := make(chan time.Time, 1)
	go func() {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
				now := time.Now()
				c.Close()
				at <- now
				return
			}
		}
		at <- time.Now()
	}()
	return at
}

// waitServing waits until a call succeeds after since, and returns how long
// that took.
func (l *load) waitServing(t *testing.T, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	deadline := since.Add(within)
	for time.Now().Before(deadline) {
		if first := l.firstOK.Load(); first != 0 {
			return time.Unix(0, first).Sub(since)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no successful call within %v of the broker's return", within)
	return 0
}

func (l *load) finish(t *testing.T) {
	t.Helper()
	l.stop()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * callDeadline):
		t.Fatal("calls still running long after their deadline: a call hangs")
	}
	t.Logf("calls: %d ok, %d connection lost (retryable), %d out of time in an outage, %d other", l.ok.Load(), l.lost.Load(), l.late.Load(), l.other.Load())
	if l.other.Load() > 0 {
		t.Errorf("%d calls failed with neither a result nor a retryable error, e.g. %v", l.other.Load(), l.others)
		t.Logf("they started: %v", compactTimes(l.otherAt))
	}
	if over := time.Duration(l.slowest.Load()); over > time.Second {
		t.Errorf("a call returned %v after its deadline", over)
	}
	if l.ok.Load() == 0 {
		t.Error("no call succeeded")
	}
}

// faultEnv is a worker and four callers on a node of the test's own, each on
// its own connection.
type faultEnv struct {
	node    *testbroker.Node
	conns   []*bridge.Conn
	callers []*caller.Caller
	states  chan bridge.State
	links   []*link // of the callers' connections
	stop    context.CancelFunc
	t0      time.Time
	mu      sync.Mutex
	events  []string // the timeline: state changes and faults, since t0
	served  chan error
}

func newFaultEnv(t *testing.T) *faultEnv {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	e := &faultEnv{node: node, states: make(chan bridge.State, 1000), t0: time.Now()}
	dial := func() *bridge.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		which := fmt.Sprintf("conn %d", len(e.conns)) // 0 is the worker's, 1-4 the callers'
		k := &link{}
		e.links = append(e.links, k)
		cfg := bridge.Config{
			URL: node.URL(), ReconnectMin: 50 * time.Millisecond, ReconnectMax: time.Second,
			OnStateChange: func(s bridge.State, err error) {
				k.observe(s)
				e.event(fmt.Sprintf("%s: %v (%v)", which, s, err))
				select {
				case e.states <- s:
				default:
				}
			},
		}
		conn, err := bridge.Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.conns = append(e.conns, conn)
		return conn
	}
	reg := registry.New()
	if err := registry.RegisterIn(reg, "echo", demo.Echo, registry.Options{}); err != nil {
		t.Fatal(err)
	}
	wconn := dial()
	ctx, stop := context.WithCancel(context.Background())
	e.stop, e.served = stop, make(chan error, 1)
	w := worker.New(wconn, reg, worker.Config{DrainTimeout: 5 * time.Second})
	go func() { e.served <- w.Serve(ctx) }()
	// The load must not start before the queue is there: a call that finds
	// no queue, with no connection lost, is a final "no such function".
	select {
	case <-w.Ready():
		if err := w.Err(); err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not serve within 30s")
	}
	for range 4 {
		c, err := caller.New(dial(), caller.Config{})
		if err != nil {
			t.Fatal(err)
		}
		e.callers = append(e.callers, c)
	}
	e.links = e.links[1:] // the worker's is not a caller's
	return e
}

// event records what happened when, for the log of a failed run.
func (e *faultEnv) event(what string) {
	e.mu.Lock()
	e.events = append(e.events, fmt.Sprintf("%.2fs %s", time.Since(e.t0).Seconds(), what))
	e.mu.Unlock()
}

// logTimeline logs the timeline if the test failed.
func (e *faultEnv) logTimeline(t *testing.T) {
	if !t.Failed() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t.Logf("timeline:\n%s", strings.Join(e.events, "\n"))
}

func (e *faultEnv) close(t *testing.T) {
	e.stop()
	select {
	case err := <-e.served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("worker did not stop")
	}
	for _, c := range e.callers {
		c.Close()
	}
	for _, c := range e.conns {
		c.Close()
	}
}

// settledGoroutines waits for the goroutine count to fall to at most want.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100 && n > want; i++ {
		time.Sleep(50 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestBrokerRestartUnderLoad: 4 callers × 50 concurrent calls while the
// node's app stops and starts, then while the whole node stops and starts,
// for 2 s and then for 15 s (long enough for the backoff to reach its cap:
// service must resume within a few seconds of the broker's return
// whatever the outage lasted).
func TestBrokerRestartUnderLoad(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newFaultEnv(t)
	l := runLoad(e.callers, e.links, 50)
	e.event("load starts (the calls' times count from here; caller i is conn i+1)")
	time.Sleep(time.Second)

	for _, fault := range []struct {
		name       string
		down, back func() error
		outage     time.Duration
	}{
		{"stop_app", func() error { _, err := e.node.Ctl("stop_app"); return err },
			func() error { _, err := e.node.Ctl("start_app"); return err }, 2 * time.Second},
		{"node stop", func() error { e.node.Stop(); return nil }, e.node.Start, 2 * time.Second},
		{"node stop, long", func() error { e.node.Stop(); return nil }, e.node.Start, 15 * time.Second},
	} {
		okBefore := l.ok.Load()
		e.event(fault.name + ": down")
		if err := fault.down(); err != nil {
			t.Fatalf("%s: %v", fault.name, err)
		}
		l.firstOK.Store(0)
		time.Sleep(fault.outage) // calls meet a broker that is gone
		e.event(fault.name + ": down done, outage over")
		accepting := watchPort(e.node.Port)
		if err := fault.back(); err != nil {
			t.Fatalf("%s: bringing it back: %v", fault.name, err)
		}
		e.event(fault.name + ": back")
		back := <-accepting // when the broker took connections again
		took := l.waitServing(t, back, 10*time.Second)
		t.Logf("%s (%v): serving again %v after the broker accepted connections again (%d calls before)",
			fault.name, fault.outage, took.Round(time.Millisecond), okBefore)
		time.Sleep(time.Second)
	}
	l.finish(t)
	e.close(t)
	if after := settledGoroutines(before + 5); after > before+5 {
		t.Errorf("goroutines: %d before, %d after the run", before, after)
	}
	e.logTimeline(t)
}

// TestConnectionsClosedByBroker: the broker force-closes every connection
// (rabbitmqctl close_all_connections) under load.
func TestConnectionsClosedByBroker(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newFaultEnv(t)
	l := runLoad(e.callers, e.links, 50)
	time.Sleep(time.Second)
	for i := range 2 {
		if _, err := e.node.Ctl("close_all_connections", fmt.Sprintf("fault test %d", i)); err != nil {
			t.Fatal(err)
		}
		since := time.Now()
		l.firstOK.Store(0)
		took := l.waitServing(t, since, 10*time.Second)
		t.Logf("serving again %v after the connections were closed", took.Round(time.Millisecond))
		time.Sleep(time.Second)
	}
	l.finish(t)
	lostSeen := false
	for len(e.states) > 0 {
		if <-e.states == bridge.StateDisconnected {
			lostSeen = true
		}
	}
	if !lostSeen {
		t.Error("OnStateChange never reported the loss")
	}
	e.close(t)
	if after := settledGoroutines(before + 5); after > before+5 {
		t.Errorf("goroutines: %d before, %d after the run", before, after)
	}
}
