package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/console"
)

func runConsole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("console", stderr)
	var cf connFlags
	cf.register(fs)
	addr := fs.String("addr", "127.0.0.1:8089", "where to serve the console; another host than loopback lets others see (and, with --allow-calls, call) the fleet")
	allow := fs.Bool("allow-calls", false, "let the page call functions (else it only shows them)")
	wait := fs.Duration("wait", 700*time.Millisecond, "how long each look at the fleet collects answers")
	timeout := fs.Duration("timeout", 30*time.Second, "how long a call from the page may take")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: rabibridge console [flags]

Serves a web page of the live fleet: its functions and instances with
their calls, errors by code, in flight and latency, refreshed every few
seconds; each function's request and response schema; and, with
--allow-calls, a form built from the request schema that calls the
function and shows the reply or the error, and the time it took. The page's
assets are in the binary; the broker's address and password never reach it.

flags:
`)
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args); err != nil {
		return err
	}
	conn, _, err := cf.dial(ctx, os.Getenv, stderr, "WARNING")
	if err != nil {
		return err
	}
	defer conn.Close()
	ccfg := cf.callerConfig()
	async, err := caller.New(conn, ccfg)
	if err != nil {
		return err
	}
	defer async.Close()
	ccfg.Kind = "sync"
	sync, err := caller.New(conn, ccfg)
	if err != nil {
		return err
	}
	defer sync.Close()
	cfg := console.Config{Caller: async, SyncCaller: sync, AllowCalls: *allow, Discover: *wait, CallTimeout: *timeout}
	if console.IsLoopback(*addr) {
		cfg.Hosts = console.LoopbackHosts
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	srv := &http.Server{Handler: console.Handler(cfg), ReadHeaderTimeout: 5 * time.Second}
	mode := "read-only"
	if *allow {
		mode = "calls allowed"
	}
	fmt.Fprintf(stdout, "console at http://%s/ (%s) until SIGINT or SIGTERM\n", ln.Addr(), mode)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
