package worker_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

func ExampleWorker_Start() {
	ctx := context.Background()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://example-start"}) // or amqp://...
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fns := registry.New()
	_ = registry.RegisterIn(fns, "greet", func(ctx context.Context, name string) (string, error) {
		return "hello, " + name, nil
	}, registry.Options{})
	w := worker.New(conn, fns, worker.Config{})
	if err := w.Start(ctx); err != nil { // serving once it returns nil
		panic(err)
	}
	c, _ := caller.New(conn, caller.Config{})
	defer c.Close()
	s, err := caller.Call[string, string](ctx, c, "greet", "gopher")
	fmt.Println(s, err)

	// On SIGTERM, say: the drain ends by the deadline of Shutdown's ctx, or
	// at DrainTimeout if sooner.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fmt.Println(w.Shutdown(sctx))
	// Output:
	// hello, gopher <nil>
	// <nil>
}

func ExampleWorker_Serve() {
	// In a program: signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM),
	// so that SIGINT or SIGTERM ends Serve's ctx.
	ctx, stop := context.WithCancel(context.Background())
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://example-serve"}) // or amqp://...
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fns := registry.New()
	running := make(chan struct{})
	_ = registry.RegisterIn(fns, "slow", func(ctx context.Context, ms int) (string, error) {
		close(running)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return "done", nil
	}, registry.Options{})
	w := worker.New(conn, fns, worker.Config{
		DrainTimeout:    worker.DefaultDrainTimeout / 3,                 // 10 s
		ConsumerTimeout: worker.DefaultConsumerTimeout / 2,              // the broker's consumer_timeout, if set lower
		Interceptors:    []rabibridge.Interceptor{worker.Limit(100, 0)}, // at most 100 calls per function at once
	})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	<-w.Ready()
	if err := w.Err(); err != nil {
		panic(err)
	}

	c, _ := caller.New(conn, caller.Config{})
	defer c.Close()
	reply := make(chan string)
	go func() {
		s, err := caller.Call[int, string](context.Background(), c, "slow", 50)
		reply <- fmt.Sprint(s, " ", err)
	}()
	<-running
	fmt.Println("serving:", w.Instance().Functions[0].Name)
	// Serve's ctx ends: it drains, so the call in flight finishes and its
	// reply goes out before Serve returns.
	stop()
	fmt.Println("serve:", <-served)
	fmt.Println("call:", <-reply)
	// Output:
	// serving: slow
	// serve: <nil>
	// call: done <nil>
}

func ExampleInfoFrom() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	conn, _ := bridge.Dial(ctx, bridge.Config{URL: "mem://example-info"})
	defer conn.Close()
	fns := registry.New()
	_ = registry.RegisterIn(fns, "charge", func(ctx context.Context, cents int) (string, error) {
		info, _ := worker.InfoFrom(ctx)
		if info.Redelivered {
			// A worker died mid-call: look the charge up before making it
			// again.
			return "checked", nil
		}
		return fmt.Sprintf("%s charged %d, with a deadline: %v", info.Function, cents, !info.Deadline.IsZero()), nil
	}, registry.Options{})
	w := worker.New(conn, fns, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()

	c, _ := caller.New(conn, caller.Config{Timeout: 5 * time.Second})
	defer c.Close()
	fmt.Println(caller.Call[int, string](ctx, c, "charge", 250))
	// Output: charge charged 250, with a deadline: true <nil>
}

func ExampleLimit() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	conn, _ := bridge.Dial(ctx, bridge.Config{URL: "mem://example-limit"})
	defer conn.Close()
	fns := registry.New()
	running, release := make(chan struct{}), make(chan struct{})
	_ = registry.RegisterIn(fns, "hold", func(ctx context.Context, _ int) (int, error) {
		close(running)
		<-release
		return 1, nil
	}, registry.Options{})
	w := worker.New(conn, fns, worker.Config{Interceptors: []rabibridge.Interceptor{worker.Limit(1, 0)}}) // one at a time
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	defer func() { stop(); <-served }()
	<-w.Ready()
	c, _ := caller.New(conn, caller.Config{})
	defer c.Close()

	first := make(chan error)
	go func() { _, err := caller.Call[int, int](ctx, c, "hold", 0); first <- err }()
	<-running
	// A second call while the first runs: refused at once, and retryable.
	_, err := caller.Call[int, int](ctx, c, "hold", 0)
	fmt.Println(rabibridge.CodeOf(err), rabibridge.Retryable(err))
	close(release)
	fmt.Println(<-first)
	// Output:
	// resource_exhausted true
	// <nil>
}

func ExampleSpawn() {
	if err := serveProcs(); err != nil {
		log.Fatal(err)
	}
}

// serveProcs is the README's example of Spawn.
func serveProcs() error {
	// README: spawn
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	child, err := worker.Spawn(ctx, worker.SpawnConfig{Procs: 4, BindCores: true})
	if err != nil || !child {
		return err // the supervisor returns once every worker process has drained
	}
	// A child knows its place: worker.EnvChild (0 to Procs-1),
	// worker.EnvProcs and, with BindCores, worker.EnvCPU.
	log.Printf("worker %s of %s on core %s", os.Getenv(worker.EnvChild), os.Getenv(worker.EnvProcs), os.Getenv(worker.EnvCPU))
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "amqp://guest:guest@127.0.0.1:5672/"})
	if err != nil {
		return err
	}
	defer conn.Close()
	return worker.New(conn, registry.Default, worker.Config{}).Serve(ctx)
	// README: end
}

// A service mounts the worker's probes on its own mux; Kubernetes asks
// /readyz before it sends traffic and /healthz to decide on a restart.
func ExampleWorker_HealthHandler() {
	ctx := context.Background()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: "mem://example-health"}) // or amqp://...
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fns := registry.New()
	_ = registry.RegisterIn(fns, "greet", func(ctx context.Context, name string) (string, error) {
		return "hello, " + name, nil
	}, registry.Options{})
	w := worker.New(conn, fns, worker.Config{})

	mux := http.NewServeMux()
	mux.Handle("/readyz", w.HealthHandler())
	mux.Handle("/healthz", w.HealthHandler())
	probe := func(path string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, rec.Code)
	}
	probe("/readyz") // not started yet
	if err := w.Start(ctx); err != nil {
		panic(err)
	}
	probe("/readyz")
	probe("/healthz")
	h := w.Health()
	fmt.Println(h.Ready, h.Functions[0].Name, h.Functions[0].Consumers)
	w.Shutdown(ctx)
	probe("/healthz")
	// Output:
	// /readyz 503
	// /readyz 200
	// /healthz 200
	// true greet 1
	// /healthz 503
}
