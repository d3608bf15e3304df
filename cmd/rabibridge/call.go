package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/caller"
)

// Exit codes of `rabibridge call`, so scripts can tell failures apart.
const (
	exitRemote      = 3 // the function failed: a remote error
	exitQueueFull   = 4
	exitNoSuchFunc  = 5
	exitTimeout     = 6
	exitUnavailable = 7 // connection lost or refused
)

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("call", stderr)
	var cf connFlags
	cf.register(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the reply")
	sync := fs.Bool("sync", false, "call a function of RabiBridge's sync kind")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: rabibridge call NAME [JSON] [flags]

Calls function NAME. JSON is its arguments: an object is keyword arguments,
an array positional ones, anything else the one positional argument. The
result is printed as JSON.

Exit codes: 0 ok, 1 other error, 2 usage, 3 remote error, 4 queue full,
5 no such function, 6 timeout, 7 broker unavailable.

flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return usageError("want NAME and at most one JSON argument, got %d arguments", len(pos))
	}
	var callArgs []any
	var kwargs map[string]any
	if len(pos) == 2 {
		v, err := decodeJSON(pos[1])
		if err != nil {
			return usageError("arguments: %v", err)
		}
		switch v := v.(type) {
		case map[string]any:
			kwargs = v
		case []any:
			callArgs = v
		default:
			callArgs = []any{v}
		}
	}
	conn, _, err := cf.dial(ctx, os.Getenv, stderr, "WARNING")
	if err != nil {
		return &exitError{code: exitUnavailable, err: err}
	}
	defer conn.Close()
	kind := "async"
	if *sync {
		kind = "sync"
	}
	c, err := caller.New(conn, caller.Config{Kind: kind})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	v, err := c.Invoke(ctx, pos[0], callArgs, kwargs)
	if err != nil {
		return &exitError{code: exitCode(err), err: err}
	}
	out, err := json.Marshal(jsonable(v))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(out))
	return nil
}

// exitCode maps a call's error to the exit code that names its kind.
func exitCode(err error) int {
	var re *rabibridge.RemoteError
	switch {
	case errors.Is(err, rabibridge.ErrQueueFull):
		return exitQueueFull
	case errors.Is(err, rabibridge.ErrNoSuchFunction):
		return exitNoSuchFunc
	case errors.Is(err, context.DeadlineExceeded):
		return exitTimeout
	case errors.As(err, &re):
		return exitRemote
	case errors.Is(err, rabibridge.ErrConnectionLost), errors.Is(err, rabibridge.ErrClosed):
		return exitUnavailable
	}
	return 1
}

// decodeJSON decodes s with integers as int64 and other numbers as float64,
// so they encode as msgpack numbers.
func decodeJSON(s string) (any, error) {
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("more than one JSON value")
	}
	return numbers(v), nil
}

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

// jsonable turns what msgpack decodes (maps with non-string keys) into
// values encoding/json can print.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case map[string]any:
		for k := range v {
			v[k] = jsonable(v[k])
		}
	case []any:
		for i := range v {
			v[i] = jsonable(v[i])
		}
	}
	return v
}
