package transport

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestDefaultLogger: with no Logger, warnings reach the program's default
// logger, with their attributes and groups; Info lines do not.
func TestDefaultLogger(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	log := defaultLogger().With("conn", 1).WithGroup("g")
	log.Info("quiet")
	log.Warn("loud", "k", "v")
	out := buf.String()
	if strings.Contains(out, "quiet") {
		t.Errorf("an Info line came through: %q", out)
	}
	if !strings.Contains(out, "msg=loud conn=1 g.k=v") {
		t.Errorf("the warning lacks its attributes or group: %q", out)
	}
}
