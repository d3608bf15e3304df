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
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/jsonvalue"
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
		v, err := jsonvalue.Decode([]byte(pos[1]))
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
	out, err := json.Marshal(jsonvalue.Printable(v))
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
		out, err := json.Marshal(jsonvalue.Printable(a.Value))
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
