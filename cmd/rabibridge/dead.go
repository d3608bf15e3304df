package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rabibridge/rabibridge/internal/jsonvalue"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/internal/transport"
	"github.com/rabibridge/rabibridge/internal/wire"
)

// deadLetter is a dead letter as `rabibridge dead --json` prints it.
type deadLetter struct {
	Function      string    `json:"function"`
	Reason        string    `json:"reason"` // failed, malformed or poison
	Code          string    `json:"code"`
	Error         string    `json:"error"`
	At            time.Time `json:"at"`
	CorrelationID string    `json:"correlation_id"`
	Request       any       `json:"request"` // the request envelope [args, kwargs], decoded; null if it cannot be
}

func runDead(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("dead", stderr)
	var cf connFlags
	cf.register(fs)
	sync := fs.Bool("sync", false, "a function of RabiBridge's sync kind")
	replay := fs.Bool("replay", false, "publish the dead letters to the function's queue again (as calls that want no reply), and remove them")
	purge := fs.Bool("purge", false, "remove every dead letter of the function")
	limit := fs.Int("limit", 100, "at most this many letters listed or replayed")
	asJSON := fs.Bool("json", false, "list as JSON, one array")
	timeout := fs.Duration("timeout", 30*time.Second, "how long the whole command may take")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: rabibridge dead FUNCTION [flags]

Lists the dead letters of FUNCTION (registered with DeadLetters): the calls
that failed with nobody to tell, were refused as malformed, or were
delivered too often. With --replay they are published to the function's
queue again and removed once the broker has them; with --purge they are
dropped.

flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError("want FUNCTION, got %d arguments", len(pos))
	}
	if *replay && *purge {
		return usageError("--replay or --purge, not both")
	}
	if *limit <= 0 {
		return usageError("--limit must be positive")
	}
	name, kind := pos[0], "async"
	if *sync {
		kind = "sync"
	}
	queue, dead := protocol.QueueName(kind, name), protocol.DeadQueueName(kind, name)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	bc, _, err := cf.dial(ctx, os.Getenv, stderr, "WARNING")
	if err != nil {
		return err
	}
	defer bc.Close()
	conn := transport.Of(bc)
	none := func() error {
		fmt.Fprintf(stderr, "no dead letters of %s: its queue %s does not exist (is registry.Options.DeadLetters set?)\n", name, dead)
		if *asJSON && !*purge && !*replay {
			fmt.Fprintln(stdout, "[]")
		}
		return nil
	}
	switch {
	case *purge:
		n, err := conn.Purge(ctx, dead)
		if errors.Is(err, transport.ErrNoQueue) {
			return none()
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "purged %d dead letters of %s\n", n, name)
		return nil
	case *replay:
		// Only the letters there now: one that fails again comes back as
		// a new letter, which this replay must not take again.
		st, err := conn.Inspect(ctx, dead)
		if errors.Is(err, transport.ErrNoQueue) {
			return none()
		}
		if err != nil {
			return err
		}
		n, err := conn.Take(ctx, dead, min(*limit, st.Messages), func(m transport.Message) error {
			return conn.Put(ctx, queue, revived(m), false)
		})
		if err != nil {
			return fmt.Errorf("replayed %d, then: %w", n, err)
		}
		fmt.Fprintf(stdout, "replayed %d dead letters of %s\n", n, name)
		return nil
	}
	ms, err := conn.Browse(ctx, dead, *limit)
	if errors.Is(err, transport.ErrNoQueue) {
		return none()
	}
	if err != nil {
		return err
	}
	letters := make([]deadLetter, 0, len(ms))
	for _, m := range ms {
		letters = append(letters, letterOf(m))
	}
	if *asJSON {
		out, err := json.MarshalIndent(letters, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(out))
		return nil
	}
	if len(letters) == 0 {
		fmt.Fprintf(stdout, "no dead letters of %s\n", name)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGE\tREASON\tCODE\tERROR\tREQUEST")
	now := time.Now()
	for _, l := range letters {
		req, _ := json.Marshal(l.Request)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", age(now.Sub(l.At)), l.Reason, l.Code, preview(l.Error, 60), preview(string(req), 60))
	}
	return tw.Flush()
}

// letterOf reads a dead letter.
func letterOf(m transport.Message) deadLetter {
	l := deadLetter{Function: m.Headers[protocol.HeaderDeadFunction], Reason: m.Headers[protocol.HeaderDeadReason],
		Code: m.Headers[protocol.HeaderDeadCode], Error: m.Headers[protocol.HeaderDeadError], CorrelationID: m.CorrelationID}
	if ms, err := strconv.ParseInt(m.Headers[protocol.HeaderDeadAt], 10, 64); err == nil {
		l.At = time.UnixMilli(ms).UTC()
	}
	c := wire.Msgpack
	if cc, ok := wire.ByContentType(m.ContentType); ok {
		c = cc
	}
	if body, err := wire.Decompress(m.Body, 16<<20); err == nil {
		var v any
		if c.Unmarshal(body, &v) == nil {
			l.Request = jsonvalue.Printable(v)
		}
	}
	return l
}

// revived is a dead letter as it is published again: the call as it came,
// wanting no reply, without the letter's headers.
func revived(m transport.Message) transport.Message {
	out := transport.Message{Body: m.Body, CorrelationID: m.CorrelationID, ContentType: m.ContentType, ReplyTo: protocol.NoReply}
	out.Headers = maps.Clone(m.Headers)
	for _, h := range []string{protocol.HeaderDeadReason, protocol.HeaderDeadError, protocol.HeaderDeadCode,
		protocol.HeaderDeadFunction, protocol.HeaderDeadAt} {
		delete(out.Headers, h)
	}
	return out
}

func preview(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	default:
		return d.Round(time.Hour).String()
	}
}
