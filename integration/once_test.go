package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/redis/go-redis/v9"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/testkit/faultproxy"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/internal/testkit/testredis"
	"github.com/rabibridge/rabibridge/once/redisstore"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// payment is the run-once helper's request: its key is the order.
type payment struct {
	Order string
	Cents int
}

func (p payment) IdempotencyKey() string { return p.Order }

// paid is the helper's reply: the run of the handler that made it, by the
// count in Redis, which every process shares.
type paid struct {
	Order string
	Run   int64
	PID   int
}

// The environment of the run-once helper process.
const (
	envOnceHelper = "RABIBRIDGE_TEST_ONCE_HELPER" // the function's name
	envOnceRedis  = "RABIBRIDGE_TEST_ONCE_REDIS"
	envOnceBroker = "RABIBRIDGE_TEST_ONCE_BROKER"
	envOnceCount  = "RABIBRIDGE_TEST_ONCE_COUNT" // the Redis key of the handler's count
	envOnceStall  = "RABIBRIDGE_TEST_ONCE_STALL" // "1": stop after the run, before the reply and ack
)

// TestMain runs the test binary as the run-once helper process when
// envOnceHelper is set, and the tests otherwise.
func TestMain(m *testing.M) {
	if name := os.Getenv(envOnceHelper); name != "" {
		onceHelperMain(name)
	}
	if prefix := os.Getenv(envChaosWorker); prefix != "" {
		chaosWorkerMain(prefix)
	}
	os.Exit(m.Run())
}

// onceHelperMain is the worker process of TestRunOnceSIGKILL: it serves a
// run-once function on Redis whose handler counts its runs in Redis; with
// envOnceStall it says "ran" when a handler has run and its result is
// recorded, and then holds the call, unacknowledged, until it is killed.
func onceHelperMain(name string) {
	ctx := context.Background()
	opts, err := redis.ParseURL(os.Getenv(envOnceRedis))
	if err != nil {
		fmt.Println("helper:", err)
		os.Exit(1)
	}
	rdb := redis.NewClient(opts)
	reg := registry.New()
	err = registry.RegisterIn(reg, name, func(ctx context.Context, p payment) (paid, error) {
		n, err := rdb.Incr(ctx, os.Getenv(envOnceCount)).Result()
		return paid{Order: p.Order, Run: n, PID: os.Getpid()}, err
	}, registry.Options{Once: redisstore.New(rdb), OnceTTL: time.Minute})
	if err != nil {
		fmt.Println("helper:", err)
		os.Exit(1)
	}
	conn, err := bridge.Dial(ctx, bridge.Config{URL: os.Getenv(envOnceBroker)})
	if err != nil {
		fmt.Println("helper:", err)
		os.Exit(1)
	}
	var cfg worker.Config
	if os.Getenv(envOnceStall) == "1" {
		cfg.Interceptors = []rabibridge.Interceptor{func(next rabibridge.Next) rabibridge.Next {
			return func(ctx context.Context, call *rabibridge.Call) error {
				err := next(ctx, call) // the handler has run, and its result is in Redis
				fmt.Println("ran", err)
				select {} // until SIGKILL: no reply, no ack
			}
		}}
	}
	w := worker.New(conn, reg, cfg)
	go func() {
		<-w.Ready()
		if err := w.Err(); err != nil {
			fmt.Println("helper:", err)
			os.Exit(1)
		}
		fmt.Println("serving")
	}()
	err = w.Serve(ctx)
	fmt.Println("helper: serve:", err)
	os.Exit(1)
}

// onceHelper starts the helper process, waits until it serves, and
// returns it with its output.
func onceHelper(t *testing.T, name, redisURL, brokerURL, countKey string, stall bool) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envOnceHelper+"="+name, envOnceRedis+"="+redisURL,
		envOnceBroker+"="+brokerURL, envOnceCount+"="+countKey, envOnceStall+"="+map[bool]string{true: "1"}[stall])
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "serving" {
		t.Fatalf("the helper did not start serving: %q", lines.Text())
	}
	return cmd, lines
}

// TestRunOnceSIGKILL: a worker process is killed after its handler ran
// and its result was recorded in Redis, before it replied and
// acknowledged the call. The broker hands the call to a second worker
// process, which answers with the first run's result: the handler's count,
// in Redis, says 1. A retry of the call with the same key gets the same
// answer, and the count stays 1.
func TestRunOnceSIGKILL(t *testing.T) {
	brokerURL, redisURL := testbroker.URL(t), testredis.URL(t)
	is := is.New(t)
	rdb := testredis.Client(t, "")
	name := fmt.Sprintf("t%08x_pay", rand.Uint32())
	countKey := "rabibridge:test:" + name + ":runs"
	t.Cleanup(func() { rdb.Del(context.Background(), countKey) })

	a, ran := onceHelper(t, name, redisURL, brokerURL, countKey, true)
	c := dialCaller(t, brokerURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type result struct {
		v   paid
		err error
	}
	answer := make(chan result, 1)
	go func() {
		v, err := caller.Call[payment, paid](ctx, c, name, payment{Order: "o-1", Cents: 500})
		answer <- result{v, err}
	}()
	got := make(chan string, 1)
	go func() {
		ran.Scan()
		got <- ran.Text()
	}()
	select {
	case line := <-got:
		is.Equal(line, "ran <nil>")
	case <-ctx.Done():
		t.Fatal("worker A never ran the handler")
	}
	onceHelper(t, name, redisURL, brokerURL, countKey, false) // B consumes too
	is.NoErr(a.Process.Signal(syscall.SIGKILL))

	var r result
	select {
	case r = <-answer:
	case <-ctx.Done():
		t.Fatal("no answer after worker A was killed")
	}
	is.NoErr(r.err)
	is.Equal(r.v.Order, "o-1")
	is.Equal(r.v.Run, int64(1))      // the first run's result ...
	is.Equal(r.v.PID, a.Process.Pid) // ... made by worker A, answered by B
	n, err := rdb.Get(ctx, countKey).Int64()
	is.NoErr(err)
	is.Equal(n, int64(1)) // the handler ran once

	again, err := caller.Call[payment, paid](ctx, c, name, payment{Order: "o-1", Cents: 500})
	is.NoErr(err)
	is.Equal(again, r.v)
	other, err := caller.Call[payment, paid](ctx, c, name, payment{Order: "o-2", Cents: 500})
	is.NoErr(err)
	is.Equal(other.Run, int64(2))
	is.True(other.PID != a.Process.Pid)
	n, err = rdb.Get(ctx, countKey).Int64()
	is.NoErr(err)
	is.Equal(n, int64(2))
}

// TestRunOnceRedisDown: while the path to Redis is black-holed, then
// refused, a run-once call fails with a retryable CodeUnavailable that
// names the store, and the handler does not run; when Redis is back, the
// same call runs, once.
func TestRunOnceRedisDown(t *testing.T) {
	brokerURL := testbroker.URL(t)
	opts, err := redis.ParseURL(testredis.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	is := is.New(t)
	p := faultproxy.Start(t, opts.Addr)
	rdb := testredis.Client(t, p.Addr())
	var runs atomic.Int64
	reg := registry.New()
	name := fmt.Sprintf("t%08x_pay", rand.Uint32())
	is.NoErr(registry.RegisterIn(reg, name, func(ctx context.Context, p payment) (int64, error) {
		return runs.Add(1), nil
	}, registry.Options{Once: redisstore.New(rdb)}))
	conn := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := worker.New(conn, reg, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-served })
	<-w.Ready()
	is.NoErr(w.Err())
	c := dialCaller(t, brokerURL)

	for _, fault := range []struct {
		name       string
		start, end func()
	}{
		{"black hole", func() { p.Stall(faultproxy.Both) }, func() { p.Resume(); p.Reset() }},
		{"refused", func() { p.Refuse(true); p.Reset() }, func() { p.Refuse(false) }},
	} {
		fault.start()
		callCtx, done := context.WithTimeout(ctx, 10*time.Second)
		_, err := caller.Call[payment, int64](callCtx, c, name, payment{Order: "o-" + fault.name})
		done()
		var re *rabibridge.RemoteError
		if !errors.As(err, &re) || re.Code != rabibridge.CodeUnavailable || !strings.Contains(re.Message, "run-once store failed") {
			t.Errorf("%s: %v", fault.name, err)
		}
		is.True(rabibridge.Retryable(err))
		is.Equal(runs.Load(), int64(0))
		fault.end()
	}
	var n int64
	for try := 0; ; try++ { // the client's pool finds its way back
		n, err = caller.Call[payment, int64](ctx, c, name, payment{Order: "o-back"})
		if err == nil || try == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	is.NoErr(err)
	is.Equal(n, int64(1))
	n, err = caller.Call[payment, int64](ctx, c, name, payment{Order: "o-back"})
	is.NoErr(err)
	is.Equal(n, int64(1))
}

// TestRunOnceStoreOutageUnderLoad: two workers serve a run-once function on
// Redis, which is black-holed for 8 s (less than the claims' lease) in the
// middle of a load whose keys are each called until they succeed and then
// called again. Every key runs its handler once, and its second call gets
// the first one's result: a result whose record met the outage goes back
// to its caller by its deadline, and is recorded once Redis answers.
func TestRunOnceStoreOutageUnderLoad(t *testing.T) {
	t.Parallel()
	opts, err := redis.ParseURL(testredis.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.Start(t, opts.Addr)
	rdb := testredis.Client(t, p.Addr())
	var runs sync.Map // key → *atomic.Int64
	var total atomic.Int64
	reg := registry.New()
	name := fmt.Sprintf("t%08x_charge", rand.Uint32())
	err = registry.RegisterIn(reg, name, func(ctx context.Context, p payment) (int64, error) {
		n, _ := runs.LoadOrStore(p.Order, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		time.Sleep(20 * time.Millisecond)
		return total.Add(1), nil
	}, registry.Options{Once: redisstore.New(rdb)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		serve(t, testbroker.URL(t), reg)
	}
	c := dialCaller(t, testbroker.URL(t))
	call := func(key string) int64 {
		for end := time.Now().Add(60 * time.Second); time.Now().Before(end); {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			v, err := caller.Call[payment, int64](ctx, c, name, payment{Order: key})
			cancel()
			if err == nil {
				return v
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("%s: no success in a minute", key)
		return 0
	}
	loadEnds := time.Now().Add(16 * time.Second)
	var wg sync.WaitGroup
	var keys, mismatched atomic.Int64
	for g := range 16 {
		wg.Go(func() {
			for i := 0; time.Now().Before(loadEnds); i++ {
				key := fmt.Sprintf("k%d-%d", g, i)
				first := call(key)
				if again := call(key); again != first {
					mismatched.Add(1)
					t.Errorf("%s: %d, then %d", key, first, again)
				}
				keys.Add(1)
			}
		})
	}
	time.Sleep(4 * time.Second)
	p.Stall(faultproxy.Both)
	time.Sleep(8 * time.Second)
	p.Resume()
	p.Reset()
	wg.Wait()
	twice := 0
	runs.Range(func(k, n any) bool {
		if n.(*atomic.Int64).Load() > 1 {
			twice++
			t.Errorf("key %s ran %d times", k, n.(*atomic.Int64).Load())
		}
		return true
	})
	t.Logf("%d keys, %d ran twice, %d answered another result", keys.Load(), twice, mismatched.Load())
}
