// Command httpgateway is an HTTP front for rabibridge functions, the Go
// counterpart of RabiBridge's FastAPI example: POST /call/NAME with a JSON
// body (an object: keyword arguments; an array: positional ones) calls
// function NAME and answers with its result as JSON.
//
// Failures map to HTTP statuses: a full queue is 503 with Retry-After, no
// such function 404, an invalid argument 400, a deadline 504, and any other
// remote failure 502.
//
//	go run ./examples/httpgateway --url amqp://guest:guest@127.0.0.1:5672/ --addr :8080
//	curl -d '{"a": 1, "b": 2}' localhost:8080/call/add
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
)

// Gateway serves calls over HTTP.
type Gateway struct {
	Caller  *caller.Caller
	Timeout time.Duration // per call; zero means 10s
}

// ServeHTTP handles POST /call/NAME.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/call/")
	if !ok || name == "" || r.Method != http.MethodPost {
		http.Error(w, `want POST /call/NAME with a JSON body`, http.StatusNotFound)
		return
	}
	var args []any
	var kwargs map[string]any
	if r.ContentLength != 0 {
		var body any
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "the body is not JSON: "+err.Error())
			return
		}
		switch b := numbers(body).(type) {
		case map[string]any:
			kwargs = b
		case []any:
			args = b
		default:
			args = []any{b}
		}
	}
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	v, err := g.Caller.Invoke(ctx, name, args, kwargs)
	if err != nil {
		status, msg := Status(err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, status, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"result": v})
}

// Status maps a call's error to an HTTP status and a message for the
// client.
func Status(err error) (int, string) {
	var re *rabibridge.RemoteError
	switch {
	case errors.Is(err, rabibridge.ErrQueueFull):
		return http.StatusServiceUnavailable, "busy: retry later"
	case errors.Is(err, rabibridge.ErrNoSuchFunction) && !rabibridge.Retryable(err):
		return http.StatusNotFound, "no such function"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "the function did not answer in time"
	case rabibridge.Retryable(err):
		return http.StatusServiceUnavailable, "unavailable: retry later"
	case errors.As(err, &re) && re.Code == rabibridge.CodeInvalidArgument:
		return http.StatusBadRequest, re.Message
	case errors.As(err, &re):
		return http.StatusBadGateway, "the function failed (" + string(re.Code) + ")"
	}
	return http.StatusInternalServerError, "internal error"
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// numbers turns json.Numbers into int64 or float64.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = numbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = numbers(v[k])
		}
	}
	return v
}

func main() {
	url := flag.String("url", os.Getenv("RABIBRIDGE_URL"), "broker URL (default $RABIBRIDGE_URL)")
	addr := flag.String("addr", ":8080", "HTTP address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := bridge.Dial(ctx, bridge.Config{URL: *url})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	srv := &http.Server{Addr: *addr, Handler: &Gateway{Caller: c}, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Printf("gateway on %s", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
