package once

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The records of keys that expire are dropped, whether or not their keys
// are used again: a store of short-lived keys does not grow.
func TestMemorySweeps(t *testing.T) {
	m := NewMemory().(*memory)
	ctx := context.Background()
	for i := range 1000 {
		if _, err := m.Swap(ctx, fmt.Sprint(i), nil, []byte("r"), 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	m.mu.Lock()
	m.swept = time.Time{} // due
	m.mu.Unlock()
	if _, err := m.Swap(ctx, "last", nil, []byte("r"), time.Minute); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.records); n != 1 {
		t.Errorf("%d records after the sweep, want 1", n)
	}
}
