package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/redact"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// runDemo serves the demo functions and calls each once: on RabbitMQ when
// --url or RABIBRIDGE_URL names one that answers, else in-process.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("demo", stderr)
	var cf connFlags
	cf.register(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := cf.load(os.Getenv)
	if err != nil {
		return err
	}
	if cf.app.LogLevel == "" {
		cf.app.LogLevel = "ERROR" // the demo's fail() fails on purpose: no warning for it
	}
	cfg.Logger = logger(stderr, cf.app.LogLevel)
	conn, where, err := dialOrMem(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintln(stdout, where)

	reg := registry.New()
	if err := demo.Register(reg, registry.Options{Validate: true}); err != nil {
		return err
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	w := worker.New(conn, reg, worker.Config{})
	served := make(chan error, 1)
	go func() { served <- w.Serve(serveCtx) }()
	// Every queue is consumed once Ready is closed: no call can find its
	// function missing.
	<-w.Ready()
	if err := w.Err(); err != nil {
		return err
	}
	c, err := caller.New(conn, cf.callerConfig())
	if err != nil {
		return err
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	calls := []struct {
		show   string
		name   string
		args   []any
		kwargs map[string]any
	}{
		{"echo(5)", "echo", []any{5}, nil},
		{`echo("héllo")`, "echo", []any{"héllo"}, nil},
		{"add(a=1, b=2)", "add", nil, map[string]any{"a": 1, "b": 2}},
		{"add(1, 2)", "add", []any{1, 2}, nil},
		{"fib(10)", "fib", []any{10}, nil},
		{"fail()", "fail", nil, nil},
		{"sleep(50)", "sleep", []any{50}, nil},
	}
	failed := 0
	for _, call := range calls {
		v, err := c.Invoke(ctx, call.name, call.args, call.kwargs)
		var re *rabibridge.RemoteError
		switch {
		case err == nil:
			out, _ := json.Marshal(v)
			fmt.Fprintf(stdout, "  %-16s = %s\n", call.show, out)
		case call.name == "fail" && errors.As(err, &re):
			fmt.Fprintf(stdout, "  %-16s ! remote error (code %s): %s\n", call.show, re.Code, re.Message)
		default:
			failed++
			fmt.Fprintf(stdout, "  %-16s ! %v\n", call.show, err)
		}
	}
	// Typed calls, as Go programs make them.
	sum, err := caller.Call[demo.AddReq, int](ctx, c, "add", demo.AddReq{A: 40, B: 2})
	if err != nil {
		failed++
	}
	fmt.Fprintf(stdout, "  %-16s = %d (typed: caller.Call[demo.AddReq, int])\n", "add(40, 2)", sum)

	stopServing()
	if err := <-served; err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d demo calls failed", failed)
	}
	return nil
}

// dialOrMem dials cfg, falling back to the in-process transport when no
// broker answers there. It says which in where.
func dialOrMem(ctx context.Context, cfg bridge.Config) (conn *bridge.Conn, where string, err error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err = bridge.Dial(dctx, cfg)
	if err == nil {
		if strings.HasPrefix(cfg.URL, "mem:") {
			return conn, "rabibridge demo: using the in-process transport (" + cfg.URL + ")", nil
		}
		return conn, fmt.Sprintf("rabibridge demo: using RabbitMQ (%v)", redact.URL(cfg.URL)), nil
	}
	if errors.Is(err, bridge.ErrAccessRefused) || errors.Is(err, bridge.ErrSecret) {
		return nil, "", dialFailed(err) // a broker answers: say what to fix, do not hide it
	}
	mem, merr := bridge.Dial(ctx, bridge.Config{URL: "mem://demo", Logger: cfg.Logger})
	if merr != nil {
		return nil, "", merr
	}
	return mem, fmt.Sprintf("rabibridge demo: using the in-process transport (mem://demo): no broker answers (%v)", err), nil
}
