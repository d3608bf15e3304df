package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
)

// TestDialLeaksNoPassword: a malformed URL, first or later in a list, or a
// password with an unescaped '/', '#', '%' or '?', never puts anything of
// the password into Dial's error, a log line or the state callback.
func TestDialLeaksNoPassword(t *testing.T) {
	const secret = "Top/Sec#ret%9?"
	for _, urls := range [][]string{
		{"amqp://guest:" + secret + "@127.0.0.1:1/"},
		{"amqp://guest:fine@127.0.0.1:1/", "amqp://guest:" + secret + "@127.0.0.1:2/"},
		{"amqp://guest:12/34" + secret + "@127.0.0.1:1/"}, // parses, as host guest and port 12
		{"amqp://guest:" + secret + "@127.0.0.1:notaport/"},
	} {
		t.Run(fmt.Sprint(len(urls)), func(t *testing.T) {
			var logs bytes.Buffer
			var states []string
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := bridge.Dial(ctx, bridge.Config{URLs: urls,
				Logger:        slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				OnStateChange: func(s bridge.State, err error) { states = append(states, fmt.Sprint(s, err)) }})
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			for _, part := range []string{"Top", "Sec", "ret", "34"} {
				for what, text := range map[string]string{"error": err.Error(), "logs": logs.String(), "states": strings.Join(states, "\n")} {
					if strings.Contains(text, part) {
						t.Errorf("the %s holds %q: %s", what, part, text)
					}
				}
			}
			if !strings.Contains(err.Error(), "percent-encode") && !strings.Contains(err.Error(), "does not parse") {
				t.Errorf("the error does not say what to fix: %v", err)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	t.Setenv("RABIBRIDGE_URL", "")
	t.Setenv("RABBITMQ_HOST", "")
	_, err := bridge.Dial(context.Background(), bridge.Config{})
	if err == nil || !strings.Contains(err.Error(), "no broker") {
		t.Errorf("no broker named: %v", err)
	}
	_, err = bridge.Dial(context.Background(), bridge.Config{URL: "ftp://x"})
	if err == nil || !strings.Contains(err.Error(), `unsupported URL scheme "ftp"`) {
		t.Errorf("ftp://: %v", err)
	}
	_, err = bridge.Dial(context.Background(), bridge.Config{URL: "mem://a,mem://b"})
	if err == nil || !strings.Contains(err.Error(), "mem:// takes one URL") {
		t.Errorf("two mem:// URLs: %v", err)
	}
}
