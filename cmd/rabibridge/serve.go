package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/observability/prometheus"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

func runServeDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("serve-demo", stderr)
	var cf connFlags
	cf.register(fs)
	queueSize := fs.Int("queue-size", 0, "QueueSize of every demo function (0: unlimited)")
	fetchSize := fs.Int("fetch-size", 0, "FetchSize of every demo function (0: the library default)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long to wait for calls in flight on SIGINT/SIGTERM")
	reregister := fs.Bool("re-register", false, "delete and redeclare the demo queues first")
	procs := fs.Int("procs", 1, "worker processes (0: one per CPU); more than 1 runs them under a supervisor")
	bindCores := fs.Bool("bind-cores", false, "pin each worker process to a core of its own")
	consumers := fs.Int("consumers", 0, "consumers (channels) per queue in each process (0: 1)")
	quorum := fs.Bool("quorum", false, "declare replicated quorum queues (for a cluster) instead of RabiBridge's classic ones")
	metrics := fs.String("metrics", "", "serve Prometheus metrics at /metrics on this address, e.g. :9464 (with --procs, process i uses the port + i)")
	health := fs.String("health", "", "serve the probes /readyz and /healthz on this address, e.g. :8086 (with --procs, process i uses the port + i)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if _, child := os.LookupEnv(worker.EnvChild); !child && *reregister && (*procs != 1 || *bindCores) {
		// Redeclare once, here: children that each redeclared would delete
		// the queues their siblings consume.
		if err := redeclareDemo(ctx, &cf, stderr, *queueSize, *quorum); err != nil {
			return err
		}
		*reregister = false
	}
	if _, child := os.LookupEnv(worker.EnvChild); child {
		*reregister = false
	}
	if *procs != 1 || *bindCores {
		child, err := worker.Spawn(ctx, worker.SpawnConfig{Procs: *procs, BindCores: *bindCores, StopTimeout: *drain + 10*time.Second,
			Logger: logger(stderr, os.Getenv("RABIBRIDGE_LOG_LEVEL"))})
		if !child {
			if err == nil {
				fmt.Fprintln(stdout, "drained")
			}
			return err // the supervisor: every worker process has drained
		}
		if err != nil {
			return err
		}
	}
	conn, _, err := cf.dial(ctx, os.Getenv, stderr, "INFO")
	if err != nil {
		return err
	}
	defer conn.Close()
	reg := registry.New()
	opts := demo.Options
	opts.QueueSize, opts.FetchSize, opts.ReRegister = *queueSize, *fetchSize, *reregister
	if *quorum {
		opts.QueueType = registry.Quorum
	}
	if err := demo.Register(reg, opts); err != nil {
		return err
	}
	wcfg := cf.workerConfig()
	wcfg.DrainTimeout, wcfg.Consumers, wcfg.Logger = *drain, *consumers, logger(stderr, cf.app.LogLevel)
	if *metrics != "" {
		stop, err := serveMetrics(ctx, *metrics, &wcfg, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	w := worker.New(conn, reg, wcfg)
	if *health != "" {
		mux := http.NewServeMux()
		mux.Handle("/readyz", w.HealthHandler())
		mux.Handle("/healthz", w.HealthHandler())
		stop, err := serveHTTP(ctx, "--health", *health, mux, stderr, "/readyz")
		if err != nil {
			return err
		}
		defer stop()
	}
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx) }()
	<-w.Ready()
	if err := w.Err(); err != nil {
		return err // Serve failed before serving
	}
	fmt.Fprintf(stdout, "serving %v until SIGINT or SIGTERM\n", demo.Names)
	if err := <-served; err != nil {
		return err
	}
	if _, child := os.LookupEnv(worker.EnvChild); !child {
		fmt.Fprintln(stdout, "drained")
	}
	return nil
}

// redeclareDemo deletes and declares the demo functions' queues.
func redeclareDemo(ctx context.Context, cf *connFlags, stderr io.Writer, queueSize int, quorum bool) error {
	conn, _, err := cf.dial(ctx, os.Getenv, stderr, "WARNING")
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, name := range demo.Names {
		q := transport.Queue{Name: protocol.QueueName("async", name), RoutingKey: protocol.RoutingKey("async", name),
			MaxLength: queueSize, Redeclare: true, Quorum: quorum}
		if err := transport.Of(conn).Declare(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// serveMetrics registers the Prometheus middleware in cfg and serves
// /metrics on addr until stop is called.
func serveMetrics(ctx context.Context, addr string, cfg *worker.Config, stderr io.Writer) (stop func(), err error) {
	m, err := prometheus.New(prom.DefaultRegisterer)
	if err != nil {
		return nil, err
	}
	cfg.Interceptors = append(cfg.Interceptors, m.Interceptor())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	return serveHTTP(ctx, "--metrics", addr, mux, stderr, "/metrics")
}

// serveHTTP serves h on addr (in a worker process of --procs, on the
// port plus the process's index) until stop is called.
func serveHTTP(ctx context.Context, flag, addr string, h http.Handler, stderr io.Writer, path string) (stop func(), err error) {
	if i, child := os.LookupEnv(worker.EnvChild); child {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, usageError("%s %q: %v", flag, addr, err)
		}
		p, _ := strconv.Atoi(port)
		n, _ := strconv.Atoi(i)
		addr = net.JoinHostPort(host, strconv.Itoa(p+n))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(stderr, "%s at http://%s%s\n", flag[2:], ln.Addr(), path)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}
