package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rabibridge/rabibridge"
	"github.com/rabibridge/rabibridge/caller"
)

// Exit codes of `rabibridge call`, so scripts can tell failures apart.
const (
	exitRemote     = 3 // the function failed: a remote error
	exitQueueFull  = 4
	exitNoSuchFunc = 5
	exitTimeout    = 6
)

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("call", stderr)
	var cf connFlags
	cf.register(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the reply")
	sync := fs.Bool("sync", false, "call a function of RabiBridge's sync kind")
	noReply := fs.Bool("no-reply", false, "send the call and want no reply: exit once the broker has it in the function's queue")
	all := fs.Bool("all", false, "call every live Go worker instance that serves NAME: one line per instance, its id and its result or error")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: rabibridge call NAME [JSON] [flags]

Calls function NAME. JSON is its arguments: an object is keyword arguments,
an array positional ones, anything else the one positional argument. The
result is printed as JSON; with --no-reply nothing is, and the call returns
once the broker has it; with --all, every live Go worker instance serving
NAME runs it, and each prints a line: its id, then its result or error.

Exit codes: 0 ok, 1 other error, 2 usage, 3 remote error, 4 queue full,
5 no such function, 6 timeout, 7 broker unavailable, 8 access refused
(user, password or virtual host), 9 configuration (config file, secret).

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
		return err
	}
	defer conn.Close()
	kind := "async"
	if *sync {
		kind = "sync"
	}
	ccfg := cf.callerConfig()
	ccfg.Kind = kind
	c, err := caller.New(conn, ccfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *all {
		return gatherCall(ctx, c, pos[0], caller.Args{Args: callArgs, Kwargs: kwargs}, stdout)
	}
	var v any
	if *noReply {
		err = caller.Send(ctx, c, pos[0], caller.Args{Args: callArgs, Kwargs: kwargs})
	} else {
		v, err = c.Invoke(ctx, pos[0], callArgs, kwargs)
	}
	var re *rabibridge.RemoteError
	switch {
	case err == nil:
	case len(pos) == 1 && errors.As(err, &re) && re.Code == rabibridge.CodeInvalidArgument:
		return usageError("%s wants arguments (%s): rabibridge call %s JSON", pos[0], re.Message, pos[0])
	default:
		// "rabibridge call: add: queue full", not "rabibridge call: caller: add: ..."
		return &exitError{code: exitCode(err), err: err, msg: strings.TrimPrefix(err.Error(), "caller: ")}
	}
	if *noReply {
		return nil
	}
	out, err := json.Marshal(jsonable(v))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(out))
	return nil
}

// gatherCall calls every instance serving name, printing a line per
// instance; it exits with the code of the first instance that failed.
func gatherCall(ctx context.Context, c *caller.Caller, name string, args caller.Args, stdout io.Writer) error {
	answers, err := caller.Gather[caller.Args, any](ctx, c, name, args)
	if err != nil {
		return &exitError{code: exitCode(err), err: err, msg: strings.TrimPrefix(err.Error(), "caller: ")}
	}
	var failed error
	for _, a := range answers {
		if a.Err != nil {
			fmt.Fprintf(stdout, "%s\terror: %s\n", a.Instance, strings.TrimPrefix(a.Err.Error(), "caller: "))
			if failed == nil {
				failed = a.Err
			}
			continue
		}
		out, err := json.Marshal(jsonable(a.Value))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\n", a.Instance, out)
	}
	if failed != nil {
		return &exitError{code: exitCode(failed), err: failed, msg: fmt.Sprintf("%s: %s", name, "not every instance answered with a result")}
	}
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

// decodeJSON decodes s with integers as int64 (uint64 above
// math.MaxInt64) and other numbers as float64, so they encode as msgpack
// numbers; an integer beyond 64 bits is an error, not a rounded float.
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
	return numbers(v)
}

func numbers(v any) (any, error) {
	var err error
	switch v := v.(type) {
	case json.Number:
		return number(v)
	case []any:
		for i := range v {
			if v[i], err = numbers(v[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k := range v {
			if v[k], err = numbers(v[k]); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// number returns n as the Go number msgpack carries exactly.
func number(n json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return u, nil
	}
	if !strings.ContainsAny(string(n), ".eE") {
		return nil, fmt.Errorf("the integer %s does not fit in 64 bits: send it as a string", n)
	}
	return strconv.ParseFloat(string(n), 64)
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
