package backoff_test

import (
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/internal/backoff"
)

func TestBackoff(t *testing.T) {
	b := backoff.New(100*time.Millisecond, time.Second)
	for i, delay := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		delay *= time.Millisecond
		if delay == 1000*time.Millisecond {
			delay = time.Second
		}
		if d := b.Wait(); d < delay/2 || d > delay {
			t.Errorf("wait %d: %v, want between %v and %v", i, d, delay/2, delay)
		}
	}
	b.Reset()
	if d := b.Wait(); d > 100*time.Millisecond {
		t.Errorf("after Reset: %v, want at most the minimum", d)
	}
}
