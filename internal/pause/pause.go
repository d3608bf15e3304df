// Package pause waits for a while or until a context ends, whichever
// comes first.
package pause

import (
	"context"
	"time"
)

// For waits d, and reports false when ctx ends first.
func For(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
