package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/rabibridge/rabibridge/bridge"
)

// connFlags are the flags every command that talks to a broker takes.
type connFlags struct {
	url    string
	config string
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
	if c.url != "" {
		cfg.URL = c.url
	}
	if cfg.URL == "" && cfg.Host == "" {
		cfg.URL = defaultURL
	}
	return cfg, nil
}

// defaultURL is the broker of the CLI when nothing names one.
const defaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// dial connects as the flags say, logging to stderr at the configured
// level, else at level.
func (c *connFlags) dial(ctx context.Context, getenv func(string) string, stderr io.Writer, level string) (*bridge.Conn, bridge.Config, error) {
	cfg, err := c.load(getenv)
	if err != nil {
		return nil, cfg, err
	}
	if cfg.App.LogLevel == "" {
		cfg.App.LogLevel = level
	}
	cfg.Logger = logger(stderr, cfg.App.LogLevel)
	conn, err := bridge.Dial(ctx, cfg)
	return conn, cfg, err
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

// parse parses args with flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}
