package bridge

import (
	"context"
	"fmt"

	"github.com/rabibridge/rabibridge/internal/redact"
	"github.com/rabibridge/rabibridge/internal/transport"
)

// ErrAccessRefused is wrapped by Dial's error when the broker refuses the
// user, the password or the virtual host. Trying again does not help:
// check the credentials.
var ErrAccessRefused = transport.ErrAccessRefused

// Conn is a connection to a broker, safe for concurrent use. Workers and
// callers share one Conn; each opens what it needs on it. It follows the
// broker through losses (see Config.ReconnectMin) until Close.
type Conn struct {
	t *transport.Conn
}

func init() { transport.Of = func(c any) *transport.Conn { return c.(*Conn).t } }

// Dial connects to the broker cfg names, and returns once connected, or
// with the error of the last attempt when ctx ends first. See Config for
// the environment variables Dial reads for the fields cfg leaves empty;
// use LoadConfig to read a config file too.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if err := cfg.overlayEnv(false); err != nil {
		return nil, err
	}
	urls, err := cfg.brokerURLs()
	if err != nil {
		return nil, err
	}
	// Every URL is checked here, by an error that quotes none of it: a
	// parser's error quotes the URL, and so the password, or the part of a
	// password before an unescaped '/', '#' or '%'.
	for i, u := range urls {
		which := "the broker URL"
		if len(urls) > 1 {
			which = fmt.Sprintf("broker URL %d of %d", i+1, len(urls))
		}
		if err := redact.Check(which, u); err != nil {
			return nil, fmt.Errorf("bridge: %w", err)
		}
	}
	tc := transport.Config{
		URLs: urls, TLS: cfg.TLS.config, Name: cfg.Name, Heartbeat: cfg.Heartbeat,
		ReconnectMin: cfg.ReconnectMin, ReconnectMax: cfg.ReconnectMax,
		MaxMessageSize: cfg.MaxMessageSize, Logger: cfg.Logger,
	}
	if f := cfg.OnStateChange; f != nil {
		tc.OnStateChange = func(s string, err error) { f(State(s), err) }
	}
	c, err := transport.Dial(ctx, tc)
	if err != nil {
		return nil, err
	}
	return &Conn{t: c}, nil
}

// Close closes the connection and everything opened on it: the workers
// serving on it stop as if their connection were lost, and calls waiting
// on it fail with rabibridge.ErrClosed. It is idempotent.
func (c *Conn) Close() error { return c.t.Close() }
