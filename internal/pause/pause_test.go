package pause_test

import (
	"context"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/internal/pause"
)

func TestFor(t *testing.T) {
	if !pause.For(context.Background(), time.Millisecond) {
		t.Error("a pause with a live ctx reported it ended")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if pause.For(ctx, time.Hour) {
		t.Error("a pause with an ended ctx ran its course")
	}
	if pause.For(ctx, 0) {
		t.Error("a zero pause with an ended ctx reported true")
	}
}
