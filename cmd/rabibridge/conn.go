package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/codec"
	"github.com/rabibridge/rabibridge/internal/settings"
	"github.com/rabibridge/rabibridge/worker"
)

// connFlags are the flags every command that talks to a broker takes.
type connFlags struct {
	url    string
	config string
	app    settings.App // the config file's [app] section under the environment, once loaded
	codec  codec.Codec  // app.Serialiser's
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "", "broker URL, e.g. amqp://guest:guest@127.0.0.1:5672/ (default: $RABIBRIDGE_URL, then the config file, then "+defaultURL+")")
	fs.StringVar(&c.config, "config", "", "TOML config file (RabiBridge's env.toml keys; default: $RABIBRIDGE_CONFIG)")
}

// load returns the connection config: --url over the environment over the
// config file.
func (c *connFlags) load(getenv func(string) string) (bridge.Config, error) {
	path := c.config
	if path == "" {
		path = getenv("RABIBRIDGE_CONFIG")
	}
	cfg, err := bridge.LoadConfig(path)
	if err != nil {
		return cfg, err
	}
	if c.app, err = settings.LoadApp(path); err != nil {
		return cfg, err
	}
	var ok bool
	if c.codec, ok = codec.ByName(c.app.Serialiser); !ok {
		return cfg, fmt.Errorf("serialiser %q (RABIBRIDGE_SERIALISER or the config file's [app] SERIALISER): want msgpack or json", c.app.Serialiser)
	}
	if c.url != "" {
		cfg.URL = c.url
	}
	if cfg.URL == "" && cfg.Host == "" {
		cfg.URL = defaultURL
	}
	return cfg, nil
}

// callerConfig is the caller configuration the [app] settings make.
func (c *connFlags) callerConfig() caller.Config {
	return caller.Config{Codec: c.codec, CompressThreshold: c.app.CompressThreshold, CIDMax: c.app.CIDMax}
}

// workerConfig is the worker configuration the [app] settings make.
func (c *connFlags) workerConfig() worker.Config {
	return worker.Config{Codec: c.codec, CompressThreshold: c.app.CompressThreshold}
}

// defaultURL is the broker of the CLI when nothing names one.
const defaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// Exit codes of every command that connects.
const (
	exitUnavailable = 7 // no broker answers, or the connection was lost
	exitAccess      = 8 // the broker refused the user, password or virtual host
	exitConfig      = 9 // the configuration cannot be used: the config file, the secret
)

// dial connects as the flags say, logging to stderr at the configured
// level, else at level. Its error carries the exit code that names what
// failed.
func (c *connFlags) dial(ctx context.Context, getenv func(string) string, stderr io.Writer, level string) (*bridge.Conn, bridge.Config, error) {
	cfg, err := c.load(getenv)
	if err != nil {
		return nil, cfg, &exitError{code: exitConfig, err: err}
	}
	if c.app.LogLevel == "" {
		c.app.LogLevel = level
	}
	cfg.Logger = logger(stderr, c.app.LogLevel)
	conn, err := bridge.Dial(ctx, cfg)
	if err != nil {
		return nil, cfg, dialFailed(err)
	}
	return conn, cfg, nil
}

// dialFailed returns err, from bridge.Dial, with its exit code.
func dialFailed(err error) error {
	code := exitUnavailable
	switch {
	case errors.Is(err, bridge.ErrAccessRefused):
		code = exitAccess
	case errors.Is(err, bridge.ErrSecret):
		code = exitConfig
	}
	return &exitError{code: code, err: err}
}

// logger logs text to w at RabiBridge's LOG_LEVEL names (default INFO).
func logger(w io.Writer, level string) *slog.Logger {
	l := slog.LevelInfo
	switch strings.ToUpper(level) {
	case "DEBUG":
		l = slog.LevelDebug
	case "WARNING", "WARN":
		l = slog.LevelWarn
	case "ERROR", "CRITICAL":
		l = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// parse parses args with flags and positional arguments in any order;
// after "--" every argument is positional, and so is a negative number.
// A flag error is a usage error.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		for len(args) > 0 && negative.MatchString(args[0]) {
			pos, args = append(pos, args[0]), args[1:]
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{code: 2, err: err}
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

var negative = regexp.MustCompile(`^-[0-9.]`)

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}
